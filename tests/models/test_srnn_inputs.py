"""External inputs through the SRNN's Lightning path: gradients reach the input weights, and an input that toggles
the discrete state lets a fit recover the states better than the same fit without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pynwb import TimeSeries

import nwb_dyn
from nwb_dyn.analysis.metrics.states import match_states
from nwb_dyn.config import resolve_config
from nwb_dyn.data import WindowBatch
from nwb_dyn.results.reader import FitResult, read
from nwb_dyn.training.srnn_module import SrnnModule
from tests.helpers import empty_nwbfile, write_nwb

BIN_WIDTH_S = 0.05
NUM_TRIALS, NUM_BINS, NUM_CHANNELS = 16, 40, 6
PULSE_PATH = "processing/behavior/pulse"


def test_training_loss_reaches_the_input_weights_of_dynamics_transitions_and_encoder() -> None:
    torch.manual_seed(0)
    config = resolve_config(overrides={"srnn.states": 2, "srnn.latent_dim": 3, "srnn.encoder_hidden": 8})
    labels = torch.zeros(3, 12, dtype=torch.long)
    module = SrnnModule(config, 4, "gaussian", labels, input_dim=2)
    batch = WindowBatch(
        values=torch.randn(3, 12, 4),
        mask=torch.ones(3, 12, 4),
        encoder_mask=torch.ones(3, 12, 4),
        index=torch.arange(3),
        inputs=torch.randn(3, 12, 2),
    )
    negative_elbo, label_cross_entropy, _ = module._terms(batch, stream=0, with_labels=True)
    (negative_elbo + label_cross_entropy).backward()
    latent_dim = 3
    assert module.model.input_weight.shape == (2, latent_dim, 2)
    assert module.model.input_weight.grad.abs().min() > 0
    transition_input_columns = module.model.transitions.logit_map.weight.grad[:, latent_dim:]
    assert transition_input_columns.shape == (4, 2) and transition_input_columns.abs().min() > 0
    encoder_input_columns = module.encoder.recurrent.weight_ih_l0.grad[:, 4:]
    assert encoder_input_columns.abs().sum() > 0


def _simulate_toggled_session(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-bin input pulses toggle a 2-state switch: state 0 pulls a 2-D latent to the origin, state 1 to (1.5, −1).

    Each trial has an "on" pulse in bins 5–14 and an "off" pulse in bins 22–31. The state is a memory of the pulses,
    not a function of the current input, so a model can only use the input through its transitions; the signals are
    a noisy linear readout of the latent, too noisy for the switch times to be read off the data alone.
    Returns pulses (B, T), true states (B, T) and signals (B, T, D).
    """
    rng = np.random.default_rng(seed)
    pulses = np.zeros((NUM_TRIALS, NUM_BINS))
    rows = np.arange(NUM_TRIALS)
    pulses[rows, rng.integers(5, 15, NUM_TRIALS)] = 1.0
    pulses[rows, rng.integers(22, 32, NUM_TRIALS)] = 1.0
    states = (np.cumsum(pulses, axis=1) % 2).astype(np.int64)
    attractors = np.array([[0.0, 0.0], [1.5, -1.0]])
    latents = np.zeros((NUM_TRIALS, NUM_BINS, 2))
    for t in range(1, NUM_BINS):
        pull = 0.3 * (attractors[states[:, t]] - latents[:, t - 1])
        latents[:, t] = latents[:, t - 1] + pull + 0.2 * rng.normal(size=(NUM_TRIALS, 2))
    signals = latents @ rng.normal(size=(2, NUM_CHANNELS)) + 3.0 * rng.normal(
        size=(NUM_TRIALS, NUM_BINS, NUM_CHANNELS)
    )
    return pulses, states, signals


def _write_session(path: Path, pulses: np.ndarray, signals: np.ndarray) -> Path:
    """Trials, the signals as ``acquisition/signals`` and the pulses as ``processing/behavior/pulse``, per bin."""
    nwbfile = empty_nwbfile()
    trial_starts = 0.5 + np.arange(NUM_TRIALS) * (NUM_BINS * BIN_WIDTH_S + 0.5)
    for start in trial_starts:
        nwbfile.add_trial(start_time=start, stop_time=start + NUM_BINS * BIN_WIDTH_S)
    bin_centres = (trial_starts[:, None] + (np.arange(NUM_BINS) + 0.5) * BIN_WIDTH_S).reshape(-1)
    nwbfile.add_acquisition(
        TimeSeries(
            name="signals", data=signals.reshape(-1, NUM_CHANNELS), unit="a.u.", timestamps=bin_centres
        )
    )
    behavior = nwbfile.create_processing_module(name="behavior", description="task events")
    behavior.add(TimeSeries(name="pulse", data=pulses.reshape(-1), unit="a.u.", timestamps=bin_centres))
    return write_nwb(path, nwbfile)


def _fit(source: Path, out: Path, inputs: list[str]) -> FitResult:
    outcome = nwb_dyn.fit(
        str(source),
        model="srnn",
        out=out,
        series="acquisition/signals",
        inputs=inputs,
        bin_width=BIN_WIDTH_S,
        states=2,
        latent_dim=2,
        batch_size=4,
        seed=0,
    )
    return read(outcome.outputs[0])


@pytest.fixture(scope="module")
def toggled(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, FitResult, FitResult]:
    """(true states (B, T), the fit with the pulse input, the same fit without it)."""
    folder = tmp_path_factory.mktemp("srnn_inputs")
    pulses, states, signals = _simulate_toggled_session(seed=0)
    source = _write_session(folder / "toggled.nwb", pulses, signals)
    return states, _fit(source, folder / "with", [PULSE_PATH]), _fit(source, folder / "without", [])


def test_the_input_lets_the_fit_recover_the_switches(
    toggled: tuple[np.ndarray, FitResult, FitResult],
) -> None:
    states, with_input, without_input = toggled
    accuracy_with = match_states(states, with_input.per_window(with_input.states)).accuracy
    accuracy_without = match_states(states, without_input.per_window(without_input.states)).accuracy
    assert accuracy_with > 0.9, accuracy_with
    assert accuracy_with > accuracy_without + 0.07, (accuracy_with, accuracy_without)


def test_the_written_model_rebuilds_with_its_inputs(toggled: tuple[np.ndarray, FitResult, FitResult]) -> None:
    _, with_input, without_input = toggled
    assert with_input.model.input_dim == 1 and without_input.model.input_dim == 0
    assert with_input.model.input_weight.shape == (2, 2, 1)
    assert with_input.samples is not None and "external inputs" in with_input.samples.conditioning
    assert with_input.samples.latents.shape[1:] == (NUM_BINS, 2)
    assert "free-running" in without_input.samples.conditioning
