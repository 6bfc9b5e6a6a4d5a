"""Neural Latents Benchmark metrics: co-bps, fp-bps and PSTH R² (velocity R² lives in ``decoding``).

Definitions follow the NLB paper (Pei et al. 2021) and its evaluation code, re-derived here (no nlb_tools):
rates are *expected counts per bin* (not Hz), counts and rates are (B, T, D) = trials x bins x neurons, and bins
whose count is NaN (padding) are left out of every sum.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.special import gammaln

from nwb_dyn.analysis.metrics._validation import (
    as_batch_time_channel,
    require_channel_mask,
    require_labels,
    require_same_shape,
)
from nwb_dyn.analysis.metrics.regression import r2_per_output
from nwb_dyn.errors import ConfigError

# NLB replaces zero predicted rates by this floor so that log(rate) stays finite.
ZERO_RATE_FLOOR = 1e-9


def poisson_negative_log_likelihood(counts: np.ndarray, rates: np.ndarray) -> float:
    """Summed Poisson NLL ``L(λ) = Σ (λ − y log λ + log y!)`` over all bins with a finite count.

    counts, rates: arrays of the same shape (any, typically (B, T, D)); rates are expected counts per bin and
    zeros are floored at 1e-9 as in NLB. Rates must be finite wherever the count is.
    """
    observed = np.isfinite(counts)
    rates_observed = np.asarray(rates, dtype=np.float64)[observed]
    counts_observed = np.asarray(counts, dtype=np.float64)[observed]
    if not np.all(np.isfinite(rates_observed)) or np.any(rates_observed < 0):
        raise ConfigError("predicted rates must be finite and non-negative wherever a count is observed")
    rates_observed = np.where(rates_observed == 0.0, ZERO_RATE_FLOOR, rates_observed)
    return float(
        np.sum(rates_observed - counts_observed * np.log(rates_observed) + gammaln(counts_observed + 1.0))
    )


def bits_per_spike(counts: np.ndarray, rates: np.ndarray) -> float:
    """Information gain over a per-neuron constant rate, in bits per spike.

    ``bps = (L(λ_null) − L(λ)) / (Σ y · ln 2)`` where L is :func:`poisson_negative_log_likelihood` and λ_null is each
    neuron's mean count over all trials and bins given. counts, rates: (B, T, D). Positive means the model predicts
    the spikes better than the neuron's mean rate; 0 for the null model itself; NaN when the counts hold no spike.
    """
    counts = as_batch_time_channel(counts, "counts")
    rates = as_batch_time_channel(rates, "rates")
    require_same_shape(counts, rates, "counts", "rates")
    total_spikes = np.nansum(counts)
    if total_spikes <= 0:
        # Per-spike information is undefined without spikes (NLB divides by zero here); NaN marks "not scorable".
        return float("nan")
    null_rates = np.broadcast_to(np.nanmean(counts, axis=(0, 1), keepdims=True), counts.shape)
    null_nll = poisson_negative_log_likelihood(counts, null_rates)
    model_nll = poisson_negative_log_likelihood(counts, rates)
    return float((null_nll - model_nll) / (total_spikes * np.log(2.0)))


def co_bps(counts: np.ndarray, rates: np.ndarray, held_out_units: np.ndarray) -> float:
    """Co-smoothing bits per spike: :func:`bits_per_spike` on the held-out neurons only.

    counts, rates: (B, T, D) of the evaluation trials; held_out_units: (D,) bool, True for neurons whose spikes the
    model never saw on these trials (their rates are predicted from the held-in neurons).
    """
    counts = as_batch_time_channel(counts, "counts")
    rates = as_batch_time_channel(rates, "rates")
    require_same_shape(counts, rates, "counts", "rates")
    mask = require_channel_mask(held_out_units, counts.shape[-1], "held_out_units")
    return bits_per_spike(counts[..., mask], rates[..., mask])


def fp_bps(forward_counts: np.ndarray, forward_rates: np.ndarray) -> float:
    """Forward-prediction bits per spike: :func:`bits_per_spike` on the bins after each trial's observed window.

    forward_counts, forward_rates: (B, T_fp, D) for all neurons (held-in and held-out) over the T_fp forecast bins
    (NLB: 200 ms); the null rate is each neuron's mean count over these forward bins.
    """
    return bits_per_spike(forward_counts, forward_rates)


def condition_averages(array: np.ndarray, conditions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trial averages per condition: array (B, T, D), conditions (B,) ints -> (unique conditions (C,), (C, T, D)).

    Trials with a negative condition are left out. NaN bins are ignored in the average; a bin that is NaN in every
    trial of a condition stays NaN.
    """
    labels = require_labels(conditions, "conditions", (array.shape[0],))
    unique_conditions = np.unique(labels[labels >= 0])
    if unique_conditions.size == 0:
        raise ConfigError("no trial has a condition label (all are negative); pass conditions >= 0")
    finite = np.isfinite(array)
    sums = np.stack([np.where(finite, array, 0.0)[labels == c].sum(axis=0) for c in unique_conditions])
    counts = np.stack([finite[labels == c].sum(axis=0) for c in unique_conditions])
    return unique_conditions, np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def psth_r2(
    counts: np.ndarray, rates: np.ndarray, conditions: np.ndarray, smoothing_sd_bins: float = 0.0
) -> float:
    """R² between empirical and predicted peri-stimulus time histograms, averaged over neurons.

    For every condition c the empirical PSTH is the trial average of the counts (optionally Gaussian-smoothed along
    time with ``smoothing_sd_bins``, as NLB smooths spikes before averaging) and the predicted PSTH is the trial
    average of the rates over the same (recorded, non-NaN) bins. Both are stacked over conditions to (C*T, D) and
    scored per neuron with :func:`~nwb_dyn.analysis.metrics.regression.r2_per_output` over the rows where the
    neuron's PSTH exists, then averaged over neurons.
    counts, rates: (B, T, D); conditions: (B,) ints (negative = no condition).
    """
    counts = as_batch_time_channel(counts, "counts")
    rates = as_batch_time_channel(rates, "rates")
    require_same_shape(counts, rates, "counts", "rates")
    recorded = np.isfinite(counts)
    _, empirical = condition_averages(
        np.where(recorded, smooth_counts(counts, smoothing_sd_bins), np.nan), conditions
    )
    _, predicted = condition_averages(np.where(recorded, rates, np.nan), conditions)
    empirical = empirical.reshape(-1, counts.shape[-1])
    predicted = predicted.reshape(-1, counts.shape[-1])
    scores = [
        r2_per_output(empirical[rows, neuron][:, None], predicted[rows, neuron][:, None])[0]
        for neuron, rows in enumerate(np.isfinite(empirical).T)
        if rows.any()
    ]
    return float(np.mean(scores))


def smooth_counts(counts: np.ndarray, smoothing_sd_bins: float) -> np.ndarray:
    """Counts (B, T, D) convolved along time with a Gaussian of SD ``smoothing_sd_bins`` (0 = unchanged).

    Uses scipy's ``gaussian_filter1d`` with reflect padding, which keeps the kernel normalised at trial edges.
    NaN (unrecorded) bins are left out by normalised convolution: smooth(counts with NaN as 0) / smooth(recorded).
    """
    if smoothing_sd_bins < 0:
        raise ConfigError(f"smoothing_sd_bins must be >= 0; got {smoothing_sd_bins}")
    if smoothing_sd_bins == 0:
        return counts
    recorded = np.isfinite(counts).astype(np.float64)
    numerator = gaussian_filter1d(
        np.where(recorded > 0, counts, 0.0), smoothing_sd_bins, axis=1, mode="reflect"
    )
    weight = gaussian_filter1d(recorded, smoothing_sd_bins, axis=1, mode="reflect")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, numerator / weight, np.nan)


def psth_baseline_rates(
    train_counts: np.ndarray,
    train_conditions: np.ndarray,
    eval_conditions: np.ndarray,
    smoothing_sd_bins: float,
) -> np.ndarray:
    """The smoothed-PSTH baseline: predict each evaluation trial by its condition's smoothed training PSTH.

    train_counts (B_train, T, D), train_conditions (B_train,), eval_conditions (B_eval,) -> rates (B_eval, T, D).
    This is the "no single-trial dynamics" reference a latent model must beat on co-bps; an evaluation
    condition missing from the training trials raises ConfigError.
    """
    train_counts = as_batch_time_channel(train_counts, "train_counts")
    known_conditions, psths = condition_averages(
        smooth_counts(train_counts, smoothing_sd_bins), train_conditions
    )
    eval_labels = require_labels(eval_conditions, "eval_conditions", (np.asarray(eval_conditions).shape[0],))
    positions = np.searchsorted(known_conditions, eval_labels)
    positions = np.clip(positions, 0, known_conditions.size - 1)
    missing = known_conditions[positions] != eval_labels
    if np.any(missing):
        raise ConfigError(
            f"evaluation conditions {sorted(set(eval_labels[missing].tolist()))} have no training trial; "
            "the PSTH baseline needs every condition in the training split"
        )
    return psths[positions]
