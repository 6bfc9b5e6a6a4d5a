"""pynapple reads our output without nwb-dyn's help: latents as a TsdFrame, state segments as an IntervalSet."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pynapple as nap

from nwb_dyn.results import write_result
from nwb_dyn.testing import mock_fit_record, mock_model_products, mock_neural_data


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
