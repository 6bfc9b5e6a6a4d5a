"""D_stsp and D_H against hand-computed values, closed forms and their defining properties."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nwb_dyn.analysis.metrics import (
    power_spectrum_hellinger,
    state_space_divergence,
    state_space_kl_binned,
    state_space_kl_gmm,
)
from nwb_dyn.errors import ConfigError


def test_power_spectrum_hellinger_hand_values_without_smoothing() -> None:
    # rfft powers: alternating (1, −1, 1, −1) -> (0, 0, 16); (1, 1, −1, −1) -> (0, 8, 0); (2, 0, 0, −2) -> (0, 8, 16).
    alternating = np.array([1.0, -1.0, 1.0, -1.0])[:, None]
    slow = np.array([1.0, 1.0, -1.0, -1.0])[:, None]
    mixed = np.array([2.0, 0.0, 0.0, -2.0])[:, None]
    assert power_spectrum_hellinger(alternating, slow, smoothing_sd_bins=0) == pytest.approx(1.0)
    expected = math.sqrt(0.5 * (1.0 / 3.0 + (1.0 - math.sqrt(2.0 / 3.0)) ** 2))
    assert power_spectrum_hellinger(alternating, mixed, smoothing_sd_bins=0) == pytest.approx(expected)
    # Dropping the last frequency bin leaves (0, 0) for the alternating series: no spectrum, so NaN.
    assert math.isnan(power_spectrum_hellinger(alternating, mixed, smoothing_sd_bins=0, n_frequencies=-1))


def test_power_spectrum_hellinger_is_zero_on_itself_and_within_unit_interval() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3, 200, 4)).cumsum(axis=1)
    assert power_spectrum_hellinger(data, data) == pytest.approx(0.0, abs=1e-12)
    for seed in range(5):
        other = np.random.default_rng(seed + 10).normal(size=(2, 150, 4))
        distance = power_spectrum_hellinger(data, other)
        assert 0.0 < distance <= 1.0


def test_power_spectrum_hellinger_is_invariant_to_scale_and_offset() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(size=(1, 128, 2)).cumsum(axis=1)
    other = rng.normal(size=(1, 128, 2))
    assert power_spectrum_hellinger(data, other) == pytest.approx(
        power_spectrum_hellinger(3.0 * data - 7.0, other)
    )


def test_gmm_state_space_kl_matches_the_closed_form_for_single_gaussians() -> None:
    # One row each: p = N(0, I), q = N((1, 1), I), so KL(p ‖ q) = ‖μp − μq‖² / 2 = 1.
    estimate = state_space_kl_gmm(np.zeros((1, 2)), np.ones((1, 2)), n_samples=20000, rng=5)
    assert estimate == pytest.approx(1.0, abs=0.05)


def test_gmm_state_space_kl_is_zero_on_itself_and_positive_for_shifted_data() -> None:
    rng = np.random.default_rng(2)
    data = rng.normal(size=(4, 100, 8))
    assert state_space_kl_gmm(data, data) == pytest.approx(0.0, abs=1e-12)
    assert state_space_kl_gmm(data, data + 2.0) > 1.0


def test_binned_state_space_kl_hand_value() -> None:
    # Grid of 2 bins on [min − 0.1σ, max + 0.1σ] of (0, 0, 0, 1): true counts (3, 1), generated (1, 3).
    true_data = np.array([0.0, 0.0, 0.0, 1.0])[:, None]
    generated = np.array([0.0, 1.0, 1.0, 1.0])[:, None]
    alpha = 1e-5
    p = np.array([3 + alpha, 1 + alpha]) / (4 + 2 * alpha)
    q = np.array([1 + alpha, 3 + alpha]) / (4 + 2 * alpha)
    expected = float(np.sum(p * np.log(p / q)))
    assert state_space_kl_binned(true_data, generated, n_bins=2) == pytest.approx(expected, rel=1e-12)
    assert state_space_kl_binned(true_data, true_data, n_bins=2) == 0.0


def test_binned_state_space_kl_is_nan_when_nothing_generated_lands_on_the_grid() -> None:
    true_data = np.array([0.0, 0.0, 0.0, 1.0])[:, None]
    assert math.isnan(state_space_kl_binned(true_data, np.full((3, 1), 50.0), n_bins=2))
    # Legacy grid is [−2σ, 2σ] = [−0.87, 0.87]: the value 1 falls outside, so true counts are (0, 3), generated (0, 5).
    alpha = 1e-5
    p = np.array([alpha, 3 + alpha]) / (3 + 2 * alpha)
    q = np.array([alpha, 5 + alpha]) / (5 + 2 * alpha)
    expected = float(np.sum(p * np.log(p / q)))
    assert state_space_kl_binned(true_data, np.zeros((5, 1)), n_bins=2, edges="legacy") == pytest.approx(
        expected
    )


def test_dispatcher_bins_low_dimensional_data_and_uses_mixtures_above_five_dimensions() -> None:
    rng = np.random.default_rng(3)
    low = rng.normal(size=(500, 2))
    high = rng.normal(size=(200, 6))
    assert state_space_divergence(low, low[::-1] + 0.5) == state_space_kl_binned(low, low[::-1] + 0.5)
    assert state_space_divergence(high, high + 0.5) == state_space_kl_gmm(high, high + 0.5)


def test_state_space_metrics_reject_different_channel_counts() -> None:
    with pytest.raises(ConfigError, match="same number of channels; got 2 and 3"):
        state_space_kl_gmm(np.zeros((5, 2)), np.zeros((5, 3)))


def test_eeg_halves_are_closer_to_each_other_than_to_white_noise(shared_dir: Path) -> None:
    eeg_path = shared_dir / "data" / "eeg_physionet_s001r01" / "EEG_data_smoothed.npy"
    if not eeg_path.exists():
        pytest.skip(f"{eeg_path} is missing from ../shared")
    eeg = np.load(eeg_path).astype(np.float64)  # (9640, 64), z-scored
    first, second = eeg[:4820], eeg[4820:]
    noise = np.random.default_rng(0).normal(size=first.shape)
    # The EEG protocol drops the last frequency bin (n_frequencies = −1).
    halves_dh = power_spectrum_hellinger(first, second, n_frequencies=-1)
    assert halves_dh < 0.15 < power_spectrum_hellinger(first, noise, n_frequencies=-1)
    assert state_space_kl_gmm(first, second, n_samples=300) < 0.3 * state_space_kl_gmm(
        first, noise, n_samples=300
    )


def test_binned_dstsp_equals_the_dense_histogram_definition() -> None:
    """The sparse cell counting must give exactly the dense ``histogramdd`` formula it replaces."""
    import numpy as np

    from nwb_dyn.analysis.metrics.attractor import state_space_kl_binned

    rng = np.random.default_rng(3)
    for dimensions in (1, 2, 3):
        true_data = rng.normal(size=(4, 200, dimensions))
        generated = rng.normal(size=(3, 250, dimensions)) * 1.3 + 0.2
        rows_true, rows_generated = true_data.reshape(-1, dimensions), generated.reshape(-1, dimensions)
        spread = rows_true.std(axis=0)
        grid = [
            np.linspace(low, high, 31)
            for low, high in zip(rows_true.min(0) - 0.1 * spread, rows_true.max(0) + 0.1 * spread)
        ]
        counts_true = np.histogramdd(rows_true, bins=grid)[0].ravel()
        counts_generated = np.histogramdd(rows_generated, bins=grid)[0].ravel()
        alpha = 1e-5
        p = (counts_true + alpha) / (counts_true.sum() + alpha * counts_true.size)
        q = (counts_generated + alpha) / (counts_generated.sum() + alpha * counts_generated.size)
        expected = float(np.sum(p * np.log(p / q)))
        assert abs(state_space_kl_binned(true_data, generated) - expected) < 1e-9 * max(1.0, abs(expected))
