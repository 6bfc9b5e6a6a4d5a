"""Spike-train statistics against hand-computed values and numpy's own correlation."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_dyn.analysis.metrics import (
    compare_spike_statistics,
    isi_statistics,
    mean_rates_hz,
    pairwise_correlations,
)


def test_mean_rates_in_hz() -> None:
    counts = np.array([[[1, 0], [0, 0]], [[2, 0], [1, 4]]], dtype=float)
    np.testing.assert_allclose(mean_rates_hz(counts, bin_width_s=0.02), [4 / 4 / 0.02, 4 / 4 / 0.02])


def test_isi_statistics_pool_within_trial_intervals_and_collapse_multi_spike_bins() -> None:
    # Neuron 0: trial 0 events at bins 0, 2, 3 -> intervals 2, 1; trial 1 events at 1, 5 -> 4. Intervals (2, 1, 4) x 0.01 s.
    # Neuron 1: a single event per trial -> no interval -> NaN.
    counts = np.zeros((2, 6, 2))
    counts[0, [0, 2, 3], 0] = [1, 3, 1]
    counts[1, [1, 5], 0] = 1
    counts[:, 0, 1] = 1
    stats = isi_statistics(counts, bin_width_s=0.01)
    intervals = np.array([0.02, 0.01, 0.04])
    assert stats.mean_s[0] == pytest.approx(intervals.mean())
    assert stats.sd_s[0] == pytest.approx(intervals.std())
    assert stats.cv[0] == pytest.approx(intervals.std() / intervals.mean())
    assert np.isnan(stats.mean_s[1]) and np.isnan(stats.cv[1])


def test_pairwise_correlations_match_numpy_upper_triangle() -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, size=(3, 40, 5)).astype(float)
    expected = np.corrcoef(counts.reshape(-1, 5).T)[np.triu_indices(5, k=1)]
    np.testing.assert_allclose(pairwise_correlations(counts), expected, atol=1e-12)


def test_comparing_a_recording_with_itself_is_perfect_and_with_shuffled_rates_is_not() -> None:
    rng = np.random.default_rng(1)
    rates = rng.uniform(0.05, 1.5, size=8)
    counts = rng.poisson(rates, size=(10, 60, 8)).astype(float)
    same = compare_spike_statistics(counts, counts, bin_width_s=0.02)
    assert same["mean_rate_r"] == pytest.approx(1.0) and same["mean_rate_rmse_hz"] == 0.0
    assert same["pairwise_correlation_r"] == pytest.approx(1.0) and same["isi_mean_rmse_s"] == 0.0
    shuffled = counts[..., rng.permutation(8)]
    other = compare_spike_statistics(shuffled, counts, bin_width_s=0.02)
    assert other["mean_rate_rmse_hz"] > 5.0
