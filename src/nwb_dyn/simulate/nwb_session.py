"""Write simulated spiking trials as a real NWB session: Units, trials, and the ground truth beside them."""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.file import Subject

#: Range of the simulated units' log-rate standard deviations (uniform): peak rates a few times the mean.
LOG_RATE_STD_RANGE = (0.3, 0.8)


def poisson_spikes_from_latents(
    latents: np.ndarray, num_units: int, bin_width_s: float, mean_rate_hz: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts through a random log-linear readout of ``latents`` (B, T, R).

    Each unit reads a random direction of the latents; its log rate is scaled to a standard deviation drawn from
    :data:`LOG_RATE_STD_RANGE`, so rates swing a few-fold around ``mean_rate_hz`` as cortical tuning does (an
    unscaled readout let some units reach kHz rates, which no neuron fires at).
    Returns counts (B, T, N) and rates in Hz (B, T, N).
    """
    rng = np.random.default_rng(seed)
    readout = rng.normal(0.0, 1.0, size=(latents.shape[-1], num_units))
    log_rates = latents @ readout
    log_rates -= log_rates.mean(axis=(0, 1), keepdims=True)
    log_rate_std = rng.uniform(*LOG_RATE_STD_RANGE, size=num_units)
    log_rates *= log_rate_std / log_rates.std(axis=(0, 1)).clip(min=1e-12)
    rates_hz = mean_rate_hz * np.exp(log_rates - log_rate_std**2 / 2)  # mean over time ≈ mean_rate_hz
    counts = rng.poisson(rates_hz * bin_width_s)
    return counts, rates_hz


def write_spiking_session(
    path: Path,
    counts: np.ndarray,
    bin_width_s: float,
    true_latents: np.ndarray | None = None,
    true_states: np.ndarray | None = None,
    seed: int = 0,
    gap_s: float = 0.5,
    description: str = "Simulated spiking session (nwb-dyn ground truth)",
    validation_every: int | None = 5,
) -> Path:
    """Write counts (B, T, N) as spike times of N units in B trials separated by ``gap_s`` seconds.

    The trials table's ``split`` column marks every ``validation_every``-th trial ``val`` (the rest ``train``), so a
    fit of the session has validation windows to converge on; None marks every trial ``train``.

    Spikes are placed uniformly at random inside their bins. True latents (B, T, R) and states (B, T) go into the
    ``misc`` processing module as TimeSeries named ``true_latents`` / ``true_states``, timestamped at bin centres.
    """
    rng = np.random.default_rng(seed)
    num_trials, num_bins, num_units = counts.shape
    trial_length = num_bins * bin_width_s
    trial_starts = np.arange(num_trials) * (trial_length + gap_s) + 1.0
    nwbfile = NWBFile(
        session_description=description,
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        session_id="sim",
        experimenter=["Simulator, Nwb-Dyn"],
        institution="nwb-dyn",
        experiment_description="Ground-truth simulation for testing dynamics models.",
        keywords=["simulation"],
    )
    nwbfile.subject = Subject(
        subject_id="sim", species="Mus musculus", sex="U", age="P90D", description="A simulated subject."
    )
    nwbfile.add_trial_column(name="split", description="'train' or 'val'")
    for trial, start in enumerate(trial_starts):
        is_validation = validation_every is not None and trial % validation_every == validation_every - 1
        nwbfile.add_trial(start_time=start, stop_time=start + trial_length, split="val" if is_validation else "train")
    nwbfile.units = None
    for unit in range(num_units):
        times = []
        for trial, start in enumerate(trial_starts):
            unit_counts = counts[trial, :, unit].astype(int)
            bins = np.repeat(np.arange(num_bins), unit_counts)
            times.append(start + (bins + rng.uniform(0.0, 1.0, size=len(bins))) * bin_width_s)
        nwbfile.add_unit(spike_times=np.sort(np.concatenate(times)))
    nwbfile.units.resolution = 1e-6
    bin_centres = (trial_starts[:, None] + (np.arange(num_bins)[None, :] + 0.5) * bin_width_s).reshape(-1)
    module = nwbfile.create_processing_module(name="misc", description="Ground truth of the simulation.")
    if true_latents is not None:
        module.add(
            TimeSeries(
                name="true_latents",
                description="True continuous latents at bin centres.",
                data=true_latents.reshape(-1, true_latents.shape[-1]),
                timestamps=bin_centres,
                unit="a.u.",
            )
        )
    if true_states is not None:
        module.add(
            TimeSeries(
                name="true_states",
                description="True discrete state at bin centres.",
                data=true_states.reshape(-1).astype(np.int64),
                timestamps=bin_centres,
                unit="n.a.",
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    return path


def write_signal_session(
    path: Path,
    observations: np.ndarray,
    step_s: float,
    name: str,
    description: str = "Simulated continuous signals (nwb-dyn ground truth)",
) -> Path:
    """Write observations (B, T, D) back to back as one regularly sampled TimeSeries ``acquisition/<name>``, with
    one trial per B (no gaps), so a fit with ``series="acquisition/<name>"`` gets the B windows back."""
    num_trials, num_steps, num_channels = observations.shape
    nwbfile = NWBFile(
        session_description=description,
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        session_id="sim",
    )
    nwbfile.subject = Subject(subject_id="sim", species="Mus musculus", sex="U", description="A simulated subject.")
    nwbfile.add_acquisition(
        TimeSeries(
            name=name,
            data=observations.reshape(num_trials * num_steps, num_channels),
            unit="a.u.",
            rate=1.0 / step_s,
            starting_time=0.0,
            description=description,
        )
    )
    for trial in range(num_trials):
        nwbfile.add_trial(start_time=trial * num_steps * step_s, stop_time=(trial + 1) * num_steps * step_s)
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), mode="w") as file:
        file.write(nwbfile)
    return path
