"""NLB metrics against hand-derived values and against the ordering true rates > PSTH baseline > null."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nwb_dyn.analysis.metrics import (
    bits_per_spike,
    co_bps,
    fp_bps,
    poisson_negative_log_likelihood,
    psth_baseline_rates,
    psth_r2,
    smooth_counts,
)
from nwb_dyn.errors import ConfigError


def test_poisson_nll_matches_hand_sum() -> None:
    counts = np.array([2.0, 0.0, 1.0])
    rates = np.array([2.0, 0.5, 1.0])
    # (2 − 2 ln 2 + ln 2!) + (0.5 − 0 + 0) + (1 − 0 + 0) = 3.5 − ln 2
    assert poisson_negative_log_likelihood(counts, rates) == pytest.approx(3.5 - math.log(2), abs=1e-12)


def test_co_bps_matches_nlb_definition_derived_by_hand() -> None:
    # Held-out unit 1 spikes (2, 0, 1) on one trial of three bins; its null rate is the mean count 1.
    # L(null) = Σ (1 − y·ln 1 + ln y!) = 3 + ln 2.
    # Model rates (2, 0.5, 1): L = (2 − 2 ln 2 + ln 2) + 0.5 + 1 = 3.5 − ln 2.
    # co-bps = (L(null) − L(model)) / (Σy · ln 2) = (2 ln 2 − 0.5) / (3 ln 2) = 2/3 − 1/(6 ln 2).
    counts = np.array([[[5.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    rates = np.array([[[0.1, 2.0, 0.0], [0.1, 0.5, 0.0], [0.1, 1.0, 0.0]]])
    held_out = np.array(
        [False, True, True]
    )  # unit 2 never spikes and is predicted silent: it adds ~3e-9 nats.
    expected = 2.0 / 3.0 - 1.0 / (6.0 * math.log(2))
    assert co_bps(counts, rates, held_out) == pytest.approx(expected, abs=1e-6)


def test_bits_per_spike_of_the_null_model_is_zero_and_nan_bins_are_skipped() -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(4, 10, 3)).astype(float)
    null_rates = np.broadcast_to(counts.mean(axis=(0, 1)), counts.shape)
    assert bits_per_spike(counts, null_rates) == pytest.approx(0.0, abs=1e-12)
    padded_counts = np.concatenate([counts, np.full((4, 5, 3), np.nan)], axis=1)
    padded_rates = np.concatenate([counts + 0.5, np.full((4, 5, 3), 7.0)], axis=1)
    assert bits_per_spike(padded_counts, padded_rates) == pytest.approx(bits_per_spike(counts, counts + 0.5))


def test_fp_bps_uses_the_forward_bins_own_mean_as_null() -> None:
    forward_counts = np.array([[[1.0], [3.0]]])
    # Null rate 2: L_null = (2 − ln 2 + 0) + (2 − 3 ln 2 + ln 6); model rates equal to the counts:
    # L = (1 − 0 + 0) + (3 − 3 ln 3 + ln 6). Σy = 4.
    null = 4.0 - 4.0 * math.log(2) + math.log(6)
    model = 4.0 - 3.0 * math.log(3) + math.log(6)
    expected = (null - model) / (4.0 * math.log(2))
    assert fp_bps(forward_counts, forward_counts.copy()) == pytest.approx(expected, abs=1e-12)


def _simulate_conditions(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rates with a condition-locked component plus a per-trial latent drift: (B, T, D) rates and counts, (B,)."""
    rng = np.random.default_rng(seed)
    n_trials, n_bins, n_neurons, n_conditions = 90, 40, 16, 3
    time = np.linspace(0.0, 1.0, n_bins)
    conditions = np.arange(n_trials) % n_conditions
    condition_latents = np.stack([np.sin(2 * np.pi * (time + c / n_conditions)) for c in range(n_conditions)])
    trial_drift = rng.normal(0.0, 0.8, size=(n_trials, 1)) * np.cos(np.pi * time)[None]
    latent = np.stack([condition_latents[conditions], trial_drift], axis=-1)  # (B, T, 2)
    loadings = rng.normal(0.0, 0.7, size=(2, n_neurons))
    rates = np.exp(np.log(0.6) + latent @ loadings)
    counts = rng.poisson(rates).astype(float)
    return rates, counts, conditions


def test_true_rates_beat_smoothed_psth_baseline_which_beats_null() -> None:
    rates, counts, conditions = _simulate_conditions(seed=1)
    train, evaluation = slice(0, 60), slice(60, None)
    held_out = np.zeros(counts.shape[-1], dtype=bool)
    held_out[-5:] = True
    baseline = psth_baseline_rates(
        counts[train], conditions[train], conditions[evaluation], smoothing_sd_bins=2.0
    )
    true_score = co_bps(counts[evaluation], rates[evaluation], held_out)
    baseline_score = co_bps(counts[evaluation], baseline, held_out)
    assert true_score > baseline_score + 0.02
    assert baseline_score > 0.02


def test_psth_r2_matches_hand_value() -> None:
    # Two conditions, one neuron, two bins; trial averages of counts: cond 0 -> (1, 3), cond 1 -> (2, 2).
    counts = np.array([[[0.0], [2.0]], [[2.0], [4.0]], [[2.0], [2.0]]])
    conditions = np.array([0, 0, 1])
    # Predicted trial averages: cond 0 -> (1, 2), cond 1 -> (2, 3). Stacked truth (1, 3, 2, 2), mean 2,
    # SS_tot = 1 + 1 + 0 + 0 = 2; residuals (0, 1, 0, −1), SS_res = 2; R² = 0.
    rates = np.array([[[1.0], [1.0]], [[1.0], [3.0]], [[2.0], [3.0]]])
    assert psth_r2(counts, rates, conditions) == pytest.approx(0.0, abs=1e-12)
    exact_rates = np.array([[[1.0], [3.0]], [[1.0], [3.0]], [[2.0], [2.0]]])
    assert psth_r2(counts, exact_rates, conditions) == pytest.approx(1.0)


def test_psth_baseline_rejects_conditions_missing_from_training() -> None:
    counts = np.ones((2, 3, 1))
    with pytest.raises(ConfigError, match=r"evaluation conditions \[7\] have no training trial"):
        psth_baseline_rates(counts, np.array([0, 1]), np.array([1, 7]), smoothing_sd_bins=0.0)


def test_co_bps_rejects_mismatched_shapes_and_bad_masks() -> None:
    with pytest.raises(ConfigError, match="'counts' \\(1, 2, 3\\) and 'rates' \\(1, 2, 2\\)"):
        co_bps(np.ones((1, 2, 3)), np.ones((1, 2, 2)), np.array([True, False, False]))
    with pytest.raises(ConfigError, match="held_out_units"):
        co_bps(np.ones((1, 2, 3)), np.ones((1, 2, 3)), np.array([1, 0, 0]))


def test_unrecorded_bins_do_not_enter_psth_r2_or_smoothing() -> None:
    counts = np.array([[[0.0], [2.0]], [[2.0], [4.0]], [[2.0], [2.0]]])
    rates = np.array([[[1.0], [1.0]], [[1.0], [3.0]], [[2.0], [3.0]]])
    conditions = np.array([0, 0, 1])
    # A fourth, wholly unrecorded trial of condition 0 with wild predicted rates changes nothing.
    padded_counts = np.concatenate([counts, np.full((1, 2, 1), np.nan)])
    padded_rates = np.concatenate([rates, np.full((1, 2, 1), 50.0)])
    assert psth_r2(padded_counts, padded_rates, np.array([0, 0, 1, 0])) == psth_r2(counts, rates, conditions)
    # As NLB's smoothing with ignore_nans: each recorded stretch is smoothed on its own, NaN bins stay NaN.
    spikes = np.random.default_rng(0).poisson(1.0, size=(1, 9, 2)).astype(float)
    holed = spikes.copy()
    holed[0, 4] = np.nan
    smoothed = smooth_counts(holed, 1.5)
    assert np.isnan(smoothed[0, 4]).all()
    np.testing.assert_allclose(smoothed[:, :4], smooth_counts(spikes[:, :4], 1.5))
    np.testing.assert_allclose(smoothed[:, 5:], smooth_counts(spikes[:, 5:], 1.5))
    one_channel = spikes.copy()
    one_channel[0, 2, 1] = np.nan  # unrecorded on channel 1 only: channel 0 is smoothed whole
    smoothed = smooth_counts(one_channel, 1.5)
    np.testing.assert_allclose(smoothed[..., 0], smooth_counts(spikes, 1.5)[..., 0])
    np.testing.assert_allclose(smoothed[:, 3:, 1], smooth_counts(spikes[:, 3:, 1:], 1.5)[..., 0])


#: NLB's smoothing (``NWBDataset.smooth_spk``) in ms, at 1 ms bins: here 4 bins.
KERN_SD_BINS = 4.0


def _nlb_smooth_session(session: np.ndarray, sd_bins: float) -> np.ndarray:
    """NLB's smooth_spk on a whole (N, D) session without NaN, written out: Gaussian window of int(6 sd) samples,
    normalised, convolved per column in 'same' mode."""
    length = int(6 * sd_bins)
    offsets = np.arange(length) - (length - 1) / 2.0
    window = np.exp(-0.5 * (offsets / sd_bins) ** 2)
    window /= window.sum()
    full = np.stack([np.convolve(column, window, mode="full") for column in session.T], axis=1)
    start = (length - 1) // 2
    return full[start : start + len(session)]


def test_psth_r2_is_nlbs_definition_on_a_hand_made_case() -> None:
    """Trials cut from a 1 ms session with silent gaps between them (so smoothing the session, as NLB does, equals
    smoothing each trial); the PSTH from all trials of a condition, the prediction from the evaluation trials."""
    rng = np.random.default_rng(3)
    n_trials, n_bins, gap, n_neurons = 12, 40, 30, 3
    conditions = np.arange(n_trials) % 3
    profile = 0.3 + 0.25 * np.sin(np.linspace(0, np.pi, n_bins))[None, :, None] * (1 + conditions[:, None, None])
    spikes = rng.poisson(np.broadcast_to(profile, (n_trials, n_bins, n_neurons))).astype(float)
    session = np.zeros((n_trials * (n_bins + gap) + gap, n_neurons))
    starts = gap + np.arange(n_trials) * (n_bins + gap)
    for trial, start in enumerate(starts):
        session[start : start + n_bins] = spikes[trial]
    smoothed = _nlb_smooth_session(session, KERN_SD_BINS)
    trials = np.stack([smoothed[start : start + n_bins] for start in starts])
    evaluation = np.arange(n_trials) >= 6
    rates = profile[evaluation] + 0.05 * rng.normal(size=(evaluation.sum(), n_bins, n_neurons))
    true_psth = np.concatenate([trials[conditions == c].mean(axis=0) for c in range(3)])
    predicted_psth = np.concatenate([rates[conditions[evaluation] == c].mean(axis=0) for c in range(3)])
    residual = ((true_psth - predicted_psth) ** 2).sum(axis=0)
    total = ((true_psth - true_psth.mean(axis=0)) ** 2).sum(axis=0)
    expected = float(np.mean(1 - residual / total))  # r2_score, uniform average over neurons
    got = psth_r2(
        spikes[evaluation], rates, conditions[evaluation], KERN_SD_BINS, psth_counts=spikes, psth_conditions=conditions
    )
    assert got == pytest.approx(expected, rel=1e-9)
    # Smoothing and the PSTH trials matter, so the test can fail: without them the number differs.
    assert abs(psth_r2(spikes[evaluation], rates, conditions[evaluation]) - expected) > 0.05


def test_bits_per_spike_is_the_same_in_float32_and_in_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The likelihoods are summed a few rows at a time in float64 (a whole session's float64 copy is GBs): neither
    the chunking nor float32 inputs change the score."""
    from nwb_dyn.analysis.metrics import _validation

    rng = np.random.default_rng(3)
    rates = rng.gamma(2.0, 0.2, size=(23, 17, 9))
    counts = rng.poisson(rates).astype(np.float64)
    counts[4, 3:9, 2] = np.nan  # unrecorded bins
    reference = bits_per_spike(counts, rates * 0.9 + 0.02)
    monkeypatch.setattr(_validation, "ENTRIES_PER_CHUNK", 40)  # fewer entries than one row: one row per chunk
    chunked = bits_per_spike(counts.astype(np.float32), (rates * 0.9 + 0.02).astype(np.float32))
    assert chunked == pytest.approx(reference, rel=1e-5)
    assert co_bps(counts, rates, np.arange(9) < 3) == pytest.approx(
        bits_per_spike(counts[..., :3], rates[..., :3]), rel=1e-12
    )
