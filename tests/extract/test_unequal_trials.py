"""Trials of unequal length: every trial keeps its whole length; shorter ones are padded with unobserved bins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile

from nwb_dyn.config import DataConfig
from nwb_dyn.extract import NeuralData, extract_neural_data
from tests.extract.builders import add_position, poisson_trains
from tests.helpers import empty_nwbfile, write_nwb

BIN_S = 0.02
#: Eight 4 s trials with an aborted 60 ms trial between the fourth and the fifth.
TRIALS_S = [(5.0 * k, 5.0 * k + 4.0) for k in range(4)] + [(19.5, 19.56)] + [
    (5.0 * k, 5.0 * k + 4.0) for k in range(4, 8)
]


def _session(rng: np.random.Generator) -> tuple[NWBFile, list[np.ndarray]]:
    nwbfile = empty_nwbfile()
    for start, stop in TRIALS_S:
        nwbfile.add_trial(start_time=start, stop_time=stop)
    trains = poisson_trains(rng, 3, 40.0, rate_hz=30.0)
    for times in trains:
        nwbfile.add_unit(spike_times=times, obs_intervals=[[0.0, 40.0]])
    return nwbfile, trains


def _extract(nwbfile: NWBFile, tmp_path: Path, settings: DataConfig) -> NeuralData:
    source = write_nwb(tmp_path / "session.nwb", nwbfile)
    with NWBHDF5IO(str(source), mode="r") as io:
        return extract_neural_data(io.read(), settings, 0, "session.nwb")


def test_a_60ms_trial_among_4s_trials_shortens_no_trial(tmp_path: Path) -> None:
    nwbfile, trains = _session(np.random.default_rng(0))
    with pytest.warns(UserWarning, match=r"1 of 9 trials rows are shorter than the longest \(4 s.*padded"):
        data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=BIN_S))
    assert data.num_windows == 9 and data.num_bins == 200  # 4 s of 20 ms bins, not the 3 bins of the short trial
    long_rows = [row for row, (start, stop) in enumerate(TRIALS_S) if stop - start > 1]
    short_row = 4
    assert data.bins_of_data.tolist() == [200 if row in long_rows else 3 for row in range(9)]
    for row in long_rows:  # every bin of every long trial holds its spikes, observed
        start = TRIALS_S[row][0]
        edges = start + np.arange(201) * BIN_S
        expected = np.stack([np.histogram(times, bins=edges)[0] for times in trains], axis=1)
        assert data.mask[row].all() and np.array_equal(data.values[row], expected)
        assert np.allclose(data.window_intervals_s[row], TRIALS_S[row])
    assert data.mask[short_row, :3].all() and not data.mask[short_row, 3:].any()
    assert (data.values[short_row, 3:] == 0).all()  # spikes of the next trial are not read into the padding
    assert np.allclose(data.window_intervals_s[short_row], [19.5, 19.56])
    assert data.settings["padded_windows"] == 1


def test_a_trial_shorter_than_one_bin_is_dropped_by_name(tmp_path: Path) -> None:
    nwbfile, _ = _session(np.random.default_rng(1))
    nwbfile.add_trial(start_time=39.0, stop_time=39.01)  # half a bin
    with pytest.warns(UserWarning, match=r"dropped 1 of 10 trials rows shorter than one bin .*rows 9\)"):
        data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=BIN_S))
    assert data.num_windows == 9 and 9 not in data.trial_ids.tolist()


def test_padding_is_nan_in_targets_and_zero_in_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    nwbfile, _ = _session(rng)
    path = add_position(nwbfile, rng.normal(size=(40_000, 2)), 1000.0)
    settings = DataConfig(bin_width_s=BIN_S, inputs=[path], targets=[path])
    with pytest.warns(UserWarning, match="padded"):
        data = _extract(nwbfile, tmp_path, settings)
    assert np.isnan(data.targets[4, 3:]).all() and np.isfinite(data.targets[4, :3]).all()
    assert np.isfinite(data.targets[[0, 8]]).all()
    assert (data.inputs[4, 3:] == 0).all() and np.isfinite(data.inputs).all()


def test_equal_trials_are_not_padded(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    for trial in range(4):
        nwbfile.add_trial(start_time=trial * 1.0, stop_time=trial * 1.0 + 0.8)
    nwbfile.add_unit(spike_times=np.linspace(0.01, 3.9, 50))
    data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.1))
    assert data.num_bins == 8 and data.in_window.all() and data.settings["padded_windows"] == 0
