"""A 60 ms aborted trial among 4 s trials, through ``nwb_dyn.fit``: every trial is fitted and written at its own
length; padding is neither written as data nor scored, and the file evaluates back to the stored metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nwb_dyn
import nwb_dyn.api
from nwb_dyn.results.reader import read
from tests.extract.builders import poisson_trains
from tests.helpers import empty_nwbfile, write_nwb

BIN_S = 0.05
TRIALS_S = [(5.0 * k, 5.0 * k + 4.0) for k in range(5)] + [(24.5, 24.56)] + [(5.0 * k, 5.0 * k + 4.0) for k in (5, 6)]


def _source(path: Path) -> Path:
    nwbfile = empty_nwbfile()
    for start, stop in TRIALS_S:
        nwbfile.add_trial(start_time=start, stop_time=stop)
    for times in poisson_trains(np.random.default_rng(0), 4, 36.0, rate_hz=20.0):
        nwbfile.add_unit(spike_times=times, obs_intervals=[[0.0, 36.0]])
    return write_nwb(path, nwbfile)


def test_short_trial_fits_and_writes_every_trial_at_its_length(tmp_path: Path) -> None:
    source = _source(tmp_path / "sub-1_ses-1_ecephys.nwb")
    with pytest.warns(UserWarning, match="1 of 8 trials rows are shorter than the longest"):
        outcome = nwb_dyn.fit(
            str(source), model="lowrank", out=tmp_path / "out", max_epochs=1, bin_width=BIN_S, units=8,
            particles=4, heldout_fraction=0.25, cache_dir=tmp_path / "cache",
        )  # fmt: skip
    result = read(outcome.fits[0].output)
    lengths = np.round((result.windows.stop_s - result.windows.start_s) / BIN_S).astype(int)
    assert lengths.tolist() == [80] * 5 + [1] + [80] * 2  # each trial at its own length, none shortened
    assert len(result.timestamps) == result.latents.shape[0] == lengths.sum()  # no row for padding
    for start, stop in zip(result.windows.start_s, result.windows.stop_s):
        inside = (result.timestamps > start) & (result.timestamps < stop)
        assert inside.sum() == round((stop - start) / BIN_S)
    assert np.all(np.diff(result.timestamps) > 0)
    rates = result.per_window(result.rates)
    assert rates.shape == (8, 80, 4) and np.isnan(rates[5, 1:]).all() and np.isfinite(rates[5, 0]).all()
    stored = result.stored_model.metrics
    recomputed = nwb_dyn.api.evaluate(outcome.fits[0].output, cache_dir=tmp_path / "cache")
    assert {"val_co_bps", "val_heldin_bps"} <= set(recomputed) <= set(stored)
    for name, value in recomputed.items():  # read back with its padding restored, the file scores as the fit did
        assert value == pytest.approx(stored[name], rel=1e-4, abs=1e-6, nan_ok=True)

