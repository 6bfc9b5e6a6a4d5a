"""A fit of a continuous series writes its predictions in that series' units, not in the z-scores the model sees.

The model works on each channel z-scored; a user who opens ``rates`` or ``generated_observations`` (in Neurosift,
pynapple or pynwb) beside the recording must find the same units and offsets as the recording's.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

import nwb_dyn
from nwb_dyn.api import evaluate
from nwb_dyn.results import read

STEP_S = 0.01
CHANNEL_MEANS_V = np.array([-0.070, -0.050, 0.020, 0.100])  # volts, well away from 0 and from each other
CHANNEL_SCALES_V = np.array([0.002, 0.010, 0.005, 0.020])


def _write_voltage_session(path: Path, trials: int = 24, steps: int = 60) -> np.ndarray:
    """A rotating 2-D signal read out by 4 channels in volts, one trial per 0.6 s; returns the data (B·T, 4)."""
    rng = np.random.default_rng(0)
    phase = rng.uniform(0, 2 * np.pi, size=(trials, 1)) + 2 * np.pi * np.arange(steps)[None, :] / 30
    latent = np.stack([np.cos(phase), np.sin(phase)], axis=-1)  # (B, T, 2)
    loading = np.array([[1.0, 0.6, -0.8, 0.3], [0.2, -1.0, 0.6, 0.9]])  # every channel carries the rotation
    signal = latent @ loading + 0.2 * rng.standard_normal((trials, steps, 4))
    volts = (CHANNEL_MEANS_V + CHANNEL_SCALES_V * signal).reshape(trials * steps, 4)
    nwbfile = NWBFile(
        session_description="voltages", identifier="units-test", session_id="volts",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    nwbfile.add_acquisition(
        TimeSeries(name="voltage", data=volts, unit="volts", rate=1 / STEP_S, starting_time=0.0, description="mV")
    )
    for trial in range(trials):
        nwbfile.add_trial(start_time=trial * steps * STEP_S, stop_time=(trial + 1) * steps * STEP_S)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return volts


def test_rates_and_generated_observations_are_in_the_series_units_and_evaluate_agrees(tmp_path: Path) -> None:
    volts = _write_voltage_session(tmp_path / "volts.nwb")
    outcome = nwb_dyn.fit(
        str(tmp_path / "volts.nwb"), model="lowrank", out=tmp_path / "out", series="acquisition/voltage",
        bin_width=STEP_S, max_steps=150,
    )
    result = read(outcome.fits[0].output)
    with NWBHDF5IO(str(outcome.fits[0].output), "r") as io:
        module = io.read().processing["misc"]
        rate_unit, generated_unit = module["rates"].unit, module["generated_observations"].unit
    assert rate_unit == "volts" and generated_unit == "volts"
    rates = np.asarray(result.rates)  # (N, 4) in the file's time order, as the source's bins
    np.testing.assert_allclose(rates.mean(axis=0), CHANNEL_MEANS_V, atol=0.2 * CHANNEL_SCALES_V.max())
    explained = 1 - ((rates - volts) ** 2).sum(axis=0) / ((volts - volts.mean(axis=0)) ** 2).sum(axis=0)
    assert (explained > 0.5).all(), explained  # z-scores (mean 0, scale 1) would give R² far below 0
    generated = np.asarray(result.samples.observations)
    np.testing.assert_allclose(generated.mean(axis=(0, 1)), CHANNEL_MEANS_V, atol=0.5 * CHANNEL_SCALES_V.max())

    # evaluate reads the file's source-unit rates and samples back into the model's units: the fit's own metrics
    stored = outcome.fits[0].summary["metrics"]
    again = evaluate(outcome.fits[0].output)
    for name in ("val_heldin_mse", "val_trial_d_stsp", "val_trial_d_h"):
        assert np.isclose(again[name], stored[name], rtol=1e-4), (name, again[name], stored[name])
