"""MC_Maze_Small aligned on move_onset_time: every count equals numpy.histogram of that unit's spikes in that trial.

Our bins are half-open ``[e_k, e_{k+1})``; ``numpy.histogram`` closes its last bin. To compare exactly we give
``numpy.histogram`` one extra edge after the window's end and drop that extra bin, so all compared bins are half-open
in both. The edges are computed the same way as in the code: ``window start + arange(T + 1) * bin width``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_dyn.config import DataConfig
from nwb_dyn.extract import extract_neural_data

WINDOW_S = (-0.25, 0.45)


@pytest.mark.parametrize("bin_width_s", [0.005, 0.02])
def test_counts_equal_numpy_histogram_per_unit_per_trial(mc_maze_small: Path, bin_width_s: float) -> None:
    settings = DataConfig(bin_width_s=bin_width_s, align="move_onset_time", window_s=list(WINDOW_S))
    with NWBHDF5IO(str(mc_maze_small), mode="r") as io:
        nwbfile = io.read()
        data = extract_neural_data(nwbfile, settings, seed=0, label=str(mc_maze_small))
        move_onset = np.asarray(nwbfile.trials["move_onset_time"][:], dtype=np.float64)
        spike_times = [np.asarray(times, dtype=np.float64) for times in nwbfile.units["spike_times"][:]]
        unit_ids = np.asarray(nwbfile.units.id[:])
    num_bins = round((WINDOW_S[1] - WINDOW_S[0]) / bin_width_s)
    assert data.values.shape == (len(move_onset), num_bins, len(spike_times))
    assert np.array_equal(data.channel_ids, unit_ids) and np.array_equal(data.trial_ids, np.arange(len(move_onset)))
    assert data.mask.all(), "every aligned MC_Maze window lies inside the units' obs_intervals"
    expected = np.zeros(data.values.shape)
    for trial, onset in enumerate(move_onset):
        edges = (onset + WINDOW_S[0]) + np.arange(num_bins + 2) * bin_width_s  # one extra edge, dropped below
        for unit, times in enumerate(spike_times):
            expected[trial, :, unit] = np.histogram(times, bins=edges)[0][:num_bins]
    assert expected.sum() > 1000  # the comparison is not vacuous
    assert np.array_equal(data.values, expected)
    assert np.allclose(data.bin_start_s[:, 0], move_onset + WINDOW_S[0])


def test_bin_edges_follow_the_session_clock(mc_maze_small: Path) -> None:
    settings = DataConfig(bin_width_s=0.02, align="move_onset_time", window_s=list(WINDOW_S))
    with NWBHDF5IO(str(mc_maze_small), mode="r") as io:
        data = extract_neural_data(io.read(), settings, seed=0, label="mc_maze")
    assert np.allclose(np.diff(data.bin_start_s, axis=1), 0.02)
    assert np.allclose(data.window_intervals_s[:, 1] - data.window_intervals_s[:, 0], 0.7)
