"""Continuous series → bin means, against brute force; chunked reads stay bounded; units conversions are applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_dyn.config import DataConfig
from nwb_dyn.extract import extract_neural_data
from nwb_dyn.extract.continuous import SeriesTiming, bin_average
from tests.extract.builders import add_acquisition_series, add_lfp
from tests.helpers import empty_nwbfile, write_nwb


def _brute_force_means(
    times: np.ndarray, data: np.ndarray, window_starts: np.ndarray, num_bins: int, width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the finite samples with edge_k <= t < edge_{k+1}, one bin and channel at a time."""
    means = np.zeros((len(window_starts), num_bins, data.shape[1]))
    observed = np.zeros(means.shape, dtype=bool)
    for b, start in enumerate(window_starts):
        edges = start + np.arange(num_bins + 1) * width
        for k in range(num_bins):
            inside = (times >= edges[k]) & (times < edges[k + 1])
            for d in range(data.shape[1]):
                values = data[inside, d]
                values = values[np.isfinite(values)]
                if len(values):
                    means[b, k, d], observed[b, k, d] = values.mean(), True
    return means, observed


class _CountingReads:
    """Wraps an array and records the length of every slice read from it (to check chunked reading)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape, self.dtype, self.read_lengths = array, array.shape, array.dtype, []

    def __getitem__(self, item: slice) -> np.ndarray:
        self.read_lengths.append(item.stop - item.start)
        return self.array[item]


def test_regular_series_means_match_brute_force_with_overlapping_windows_and_nans() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(size=(2000, 3))
    data[rng.random(data.shape) < 0.1] = np.nan
    data[300:340, 1] = np.nan  # a whole bin without a finite sample on channel 1
    timing = SeriesTiming(num_samples=2000, starting_time_s=0.5, rate_hz=100.0, timestamps_s=None)
    window_starts = np.array([0.513, 3.013, 3.513, 19.0, 22.0])  # overlapping; the last two run past the data
    wrapped = _CountingReads(data)
    means, observed = bin_average(wrapped, timing, window_starts, 40, 0.03, max_values_per_read=300)
    times = 0.5 + np.arange(2000) / 100.0
    expected, expected_observed = _brute_force_means(times, data, window_starts, 40, 0.03)
    assert np.array_equal(observed, expected_observed)
    assert not observed[-1].any() and observed[:3].all(axis=(1, 2)).any()
    assert np.allclose(means[observed], expected[observed], rtol=1e-6, atol=1e-6)
    assert max(wrapped.read_lengths) <= 300 // 3 and len(wrapped.read_lengths) > 5


def test_a_sample_on_a_bin_edge_belongs_to_the_later_bin() -> None:
    data = np.arange(10, dtype=np.float64)[:, None]  # sample i at i/100 s
    timing = SeriesTiming(num_samples=10, starting_time_s=0.0, rate_hz=100.0, timestamps_s=None)
    means, observed = bin_average(data, timing, np.array([0.0]), 5, 0.02)
    assert observed.all()
    assert np.array_equal(means[0, :, 0], [0.5, 2.5, 4.5, 6.5, 8.5])  # bins {0,1}, {2,3}, ...


def test_irregular_timestamps_match_brute_force() -> None:
    rng = np.random.default_rng(2)
    times = np.sort(rng.uniform(0, 20, size=3000))
    data = rng.normal(size=(3000, 2))
    timing = SeriesTiming(num_samples=3000, starting_time_s=float(times[0]), rate_hz=None, timestamps_s=times)
    window_starts = np.array([0.0, 1.7, 10.25])
    means, observed = bin_average(data, timing, window_starts, 25, 0.05, max_values_per_read=100)
    expected, expected_observed = _brute_force_means(times, data, window_starts, 25, 0.05)
    assert np.array_equal(observed, expected_observed)
    assert np.allclose(means[observed], expected[observed], rtol=1e-6, atol=1e-6)


def test_lfp_conversion_offset_and_channel_conversion_are_applied(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    raw = rng.integers(-500, 500, size=(4000, 3)).astype(np.int16)
    nwbfile = empty_nwbfile()
    channel_conversion = np.array([1.0, 2.0, 0.5])
    path = add_lfp(nwbfile, raw, 1000.0, conversion=1e-6, offset=1e-3, channel_conversion=channel_conversion)
    source = write_nwb(tmp_path / "lfp.nwb", nwbfile)
    settings = DataConfig(bin_width_s=0.01, window_length_s=0.5, zscore=False)
    with NWBHDF5IO(str(source), mode="r") as io:
        data = extract_neural_data(io.read(), settings, seed=0, label="lfp.nwb")
    assert data.data_path == path and data.modality == "ecephys" and data.observation == "continuous"
    assert data.values.shape == (8, 50, 3) and data.mask.all()
    bin_means = raw[: 8 * 50 * 10].astype(np.float64).reshape(8, 50, 10, 3).mean(axis=2)
    expected = bin_means * 1e-6 * channel_conversion + 1e-3
    assert np.allclose(data.values, expected, rtol=1e-5, atol=1e-9)
    assert np.array_equal(data.channel_ids, [0, 1, 2])


def test_zscore_gives_zero_mean_unit_std_per_channel(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    nwbfile = empty_nwbfile()
    values = rng.normal(loc=[5.0, -2.0], scale=[3.0, 0.1], size=(3000, 2))
    add_acquisition_series(nwbfile, "signal", values, rate=200.0)
    source = write_nwb(tmp_path / "signal.nwb", nwbfile)
    with NWBHDF5IO(str(source), mode="r") as io:
        data = extract_neural_data(io.read(), DataConfig(bin_width_s=0.05, window_length_s=1.0), 0, "signal.nwb")
    assert data.modality == "misc" and data.values.shape == (15, 20, 2)
    flat = data.values.reshape(-1, 2).astype(np.float64)
    assert np.allclose(flat.mean(axis=0), 0.0, atol=1e-5) and np.allclose(flat.std(axis=0), 1.0, atol=1e-4)
    assert data.settings["zscore_mean"] == pytest.approx(
        values[:3000].reshape(15 * 20, 10, 2).mean(axis=1).mean(axis=0), rel=1e-6
    )
