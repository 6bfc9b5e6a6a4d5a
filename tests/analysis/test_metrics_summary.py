"""evaluate_arrays: exactly the applicable metrics, each equal to its own function."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_dyn.analysis.metrics import (
    DecoderTraining,
    bits_per_spike,
    co_bps,
    compare_spike_statistics,
    cross_validated_decoding_r2,
    decoding_r2,
    evaluate_arrays,
    mean_squared_error,
    power_spectrum_hellinger,
    psth_r2,
    state_space_kl_gmm,
)
from nwb_dyn.analysis.metrics.summary import trial_attractor_metrics
from nwb_dyn.errors import ConfigError


@pytest.fixture()
def fit_arrays() -> dict[str, np.ndarray]:
    """A small fake fit: 10 trials x 12 bins x 7 neurons, 2 latents, 2-D behaviour, 2 states."""
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(10, 12, 2)).cumsum(axis=1) * 0.3
    rates = np.exp(latents @ rng.normal(0, 0.5, size=(2, 7)))
    return {
        "counts": rng.poisson(rates).astype(float),
        "rates": rates,
        "latents": latents,
        "targets": latents @ np.array([[1.0, 0.5], [-0.5, 1.0]]),
        "states": (latents[..., 0] > 0).astype(int),
        "generated": rng.poisson(rates[::-1]).astype(float),
    }


def test_only_the_applicable_metrics_appear(fit_arrays: dict[str, np.ndarray]) -> None:
    counts, rates = fit_arrays["counts"], fit_arrays["rates"]
    assert set(evaluate_arrays(counts, rates)) == {"heldin_bps"}
    held_out = np.array([False] * 5 + [True] * 2)
    assert set(evaluate_arrays(counts, rates, held_out)) == {"heldin_bps", "co_bps"}
    assert set(evaluate_arrays(counts, rates, held_out, observation="gaussian")) == {"heldin_mse", "co_mse"}


def test_every_metric_equals_its_own_function(fit_arrays: dict[str, np.ndarray]) -> None:
    train, evaluation = slice(0, 7), slice(7, None)
    counts, rates, latents, targets, states, generated = (
        fit_arrays[name][evaluation] if name != "generated" else fit_arrays[name]
        for name in ("counts", "rates", "latents", "targets", "states", "generated")
    )
    held_out = np.array([False] * 5 + [True] * 2)
    conditions = np.arange(3) % 2
    flipped_states = 1 - states
    forecasts = {1: np.where(np.arange(12)[None, :, None] >= 1, rates, np.nan)}
    training = DecoderTraining(
        rates=fit_arrays["rates"][train],
        targets=fit_arrays["targets"][train],
        latents=fit_arrays["latents"][train],
    )
    metrics = evaluate_arrays(
        counts,
        rates,
        held_out,
        bin_width_s=0.02,
        conditions=conditions,
        forward_counts=counts[:, -3:],
        forward_rates=rates[:, -3:],
        latents=latents,
        targets=targets,
        decoder_training=training,
        reference_states=states,
        estimated_states=flipped_states,
        generated=generated,
        forecasts=forecasts,
    )
    assert metrics["co_bps"] == co_bps(counts, rates, held_out)
    assert metrics["heldin_bps"] == bits_per_spike(counts[..., :5], rates[..., :5])
    assert metrics["fp_bps"] == bits_per_spike(counts[:, -3:], rates[:, -3:])
    assert metrics["psth_r2"] == psth_r2(counts, rates, conditions)
    assert metrics["behaviour_r2_rates"] == decoding_r2(training.rates, training.targets, rates, targets)
    assert metrics["behaviour_r2_latents"] == pytest.approx(1.0, abs=1e-3)
    # The estimated states are the true ones with swapped labels: perfect after matching, zero by index.
    assert metrics["state_accuracy"] == 1.0 and metrics["state_balanced_accuracy"] == 1.0
    assert not any("identity" in name for name in metrics)  # arbitrary label orders are not compared
    # Both sides z-scored with the recorded trials' statistics, then the D_stsp / D_H estimators.
    mean, spread = counts.mean(axis=(0, 1)), counts.std(axis=(0, 1))
    recorded_z, generated_z = (counts - mean) / spread, (generated - mean) / spread
    assert metrics["trial_d_stsp"] == pytest.approx(state_space_kl_gmm(recorded_z, generated_z), rel=1e-12)
    # 12 bins -> 7 frequencies -> smoothing SD 0.7 bins (a tenth of the spectrum, below the reference 20).
    expected_d_h = power_spectrum_hellinger(recorded_z, generated_z, smoothing_sd_bins=0.7)
    assert metrics["trial_d_h"] == pytest.approx(expected_d_h, rel=1e-9)
    assert "d_stsp" not in metrics and "d_h" not in metrics  # not the papers' long-run protocol: other names
    spike_metrics = compare_spike_statistics(generated, counts, 0.02)
    for name, value in spike_metrics.items():
        assert metrics[f"spike_{name}"] == pytest.approx(value, nan_ok=True)
    assert metrics["k_step_mse_1"] == pytest.approx(mean_squared_error(counts[:, 1:], rates[:, 1:]), rel=1e-12)
    assert all(isinstance(value, float) for value in metrics.values())


def test_unrecorded_bins_are_left_out(fit_arrays: dict[str, np.ndarray]) -> None:
    counts, rates = fit_arrays["counts"], fit_arrays["rates"]
    recorded = np.ones(counts.shape, dtype=bool)
    recorded[0, :4, 6] = False  # unit 6 was not recorded during the first 4 bins of trial 0
    corrupted = counts.copy()
    corrupted[0, :4, 6] = 99.0
    held_out = np.array([False] * 5 + [True] * 2)
    with_mask = evaluate_arrays(
        corrupted, rates, held_out, observed_mask=recorded, generated=fit_arrays["generated"]
    )
    assert with_mask["co_bps"] == co_bps(np.where(recorded, counts, np.nan), rates, held_out)
    # D_stsp uses only trials recorded throughout: trial 0 is dropped.
    assert with_mask["trial_d_stsp"] == trial_attractor_metrics(counts[1:], fit_arrays["generated"])["trial_d_stsp"]


def test_trial_attractor_metrics_preprocess_both_sides_alike(fit_arrays: dict[str, np.ndarray]) -> None:
    counts, generated = fit_arrays["counts"], fit_arrays["generated"]
    scores = trial_attractor_metrics(counts, generated)
    rescaled = trial_attractor_metrics(10.0 * counts + 3.0, 10.0 * generated + 3.0)
    assert rescaled["trial_d_stsp"] == pytest.approx(scores["trial_d_stsp"], rel=1e-9)
    assert rescaled["trial_d_h"] == pytest.approx(scores["trial_d_h"], rel=1e-9)
    # Preprocessing only one side would be caught: the generated samples at 10x scale score far worse.
    assert trial_attractor_metrics(counts, 10.0 * generated)["trial_d_stsp"] > scores["trial_d_stsp"] + 1.0


def test_decoders_cross_validate_without_a_training_split(fit_arrays: dict[str, np.ndarray]) -> None:
    metrics = evaluate_arrays(fit_arrays["counts"], fit_arrays["rates"], targets=fit_arrays["targets"])
    assert metrics["behaviour_r2_rates"] == cross_validated_decoding_r2(
        fit_arrays["rates"], fit_arrays["targets"]
    )
    assert "behaviour_r2_latents" not in metrics


def test_bad_observation_or_mask_names_the_argument(fit_arrays: dict[str, np.ndarray]) -> None:
    with pytest.raises(ConfigError, match="observation must be 'poisson' or 'gaussian'"):
        evaluate_arrays(fit_arrays["counts"], fit_arrays["rates"], observation="bernoulli")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="observed_mask must be boolean"):
        evaluate_arrays(
            fit_arrays["counts"], fit_arrays["rates"], observed_mask=np.ones(fit_arrays["counts"].shape)
        )


def test_unscorable_metrics_are_nan_or_left_out(fit_arrays: dict[str, np.ndarray]) -> None:
    counts, rates = fit_arrays["counts"].copy(), fit_arrays["rates"]
    counts[..., 6] = 0.0  # the only held-out unit never spikes: no per-spike information to score
    held_out = np.array([False] * 6 + [True])
    metrics = evaluate_arrays(counts[:6], rates[:6], held_out, targets=fit_arrays["targets"][:6])
    assert np.isnan(metrics["co_bps"])
    assert "behaviour_r2_rates" not in metrics  # 6 trials are too few to cross-validate a decoder
