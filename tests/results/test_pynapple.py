"""pynapple reads our output without nwb-dyn's help: latents as a TsdFrame, state segments as an IntervalSet, and
latents and rates aligned to a trial event with compute_perievent (examples/read_with_pynapple.py)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pynapple as nap
from pynwb import NWBHDF5IO

from nwb_dyn.config import DataConfig
from nwb_dyn.extract import extract_neural_data
from nwb_dyn.results import read, write_result
from nwb_dyn.testing import mock_fit_record, mock_model_products, mock_neural_data
from tests.conftest import PROJECT_ROOT


def test_pynapple_loads_latents_and_state_segments(tmp_path: Path) -> None:
    data = mock_neural_data()
    products = mock_model_products(data)
    path = write_result(tmp_path / "fit.nwb", data, products, mock_fit_record())
    order = np.argsort(data.window_intervals_s[:, 0])
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", UserWarning
        )  # pynapple nudges abutting segment ends by 1 µs and says so
        nwb = nap.load_file(str(path))
        latents, segments, windows = nwb["latents"], nwb["state_segments"], nwb["fit_windows"]
    assert isinstance(latents, nap.TsdFrame) and isinstance(segments, nap.IntervalSet)
    np.testing.assert_allclose(latents.values, products.latents[order].reshape(-1, 2), rtol=1e-6)
    np.testing.assert_allclose(latents.times(), (data.bin_start_s[order] + data.bin_width_s / 2).ravel())
    np.testing.assert_allclose(windows.start, data.window_intervals_s[order, 0])
    # every segment lies inside one fitted window, and their states are the written path's runs
    window_of_segment = np.searchsorted(windows.start, segments.start, side="right") - 1
    assert np.all(segments.end <= windows.end[window_of_segment] + 1e-9)
    first_states = products.states[order][:, 0]
    np.testing.assert_array_equal(
        segments["state"][np.searchsorted(segments.start, windows.start)], first_states
    )


def test_example_aligns_mc_maze_latents_and_rates_to_move_onset(mc_maze_small: Path, tmp_path: Path) -> None:
    """examples/read_with_pynapple.py on a result of MC_Maze_Small aligned to move onset: pynapple's perievent
    arrays are the fitted windows' latents and rates, and the rate columns are the units' ids."""
    settings = DataConfig(bin_width_s=0.02, align="move_onset_time", window_s=(-0.25, 0.45))
    with NWBHDF5IO(str(mc_maze_small), mode="r") as io:
        data = extract_neural_data(io.read(), settings, seed=0, label=str(mc_maze_small))
    record = mock_fit_record()
    record.config = {
        "model": "srnn",
        "data": {"bin_width_s": 0.02, "align": "move_onset_time", "window_s": [-0.25, 0.45]},
    }
    path = write_result(tmp_path / "fit.nwb", data, mock_model_products(data, rank=3), record)
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "examples" / "read_with_pynapple.py"), str(path), "--units-shown", "3"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    printed = dict(line.split(": ", 1) for line in completed.stdout.splitlines() if ": " in line)
    result = read(path)
    num_windows = len(result.windows.start_s)
    assert printed["aligned to"] == f"move_onset_time, -0.250 to +0.450 s, {num_windows} events"
    assert printed["aligned latents"] == f"35 x {num_windows} x 3 (time x event x latent)"
    assert printed["aligned rates"] == f"35 x {num_windows} x {data.num_channels} (time x event x unit)"
    assert printed["rate columns"] == "unit ids " + " ".join(map(str, result.channel_ids[:3])) + " ..."
    # the printed mean of latent 1 every 5th bin from -0.24 s is the mean over the fitted windows of those bins
    mean_latent = result.per_window(result.latents)[:, ::5, 0].mean(axis=0)
    expected = " ".join(f"{-0.24 + 0.1 * i:+.2f}s={value:+.3f}" for i, value in enumerate(mean_latent))
    assert printed["mean latent 1 around move_onset_time"] == expected
    mean_rates_hz = result.per_window(result.rates).mean(axis=0) / 0.02  # (T, D)
    top = int(np.argmax(mean_rates_hz.mean(axis=0)))
    peak = int(np.argmax(mean_rates_hz[:, top]))
    assert (
        printed[f"unit {result.channel_ids[top]} peak"]
        == f"{mean_rates_hz[peak, top]:.1f} Hz at {-0.24 + 0.02 * peak:+.2f} s"
    )
    # abutting state segments stay separate intervals in pynapple, so their state column survives loading
    assert int(printed["state segments"]) == len(result.segments.state)
