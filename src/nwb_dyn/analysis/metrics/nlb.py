"""Neural Latents Benchmark metrics: co-bps, fp-bps and PSTH R² (velocity R² lives in ``decoding``).

Definitions follow the NLB paper (Pei et al. 2021) and its evaluation code, re-derived here (no nlb_tools):
rates are *expected counts per bin* (not Hz), counts and rates are (B, T, D) = trials x bins x neurons, and bins
whose count is NaN (padding) are left out of every sum.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d
from scipy.signal.windows import gaussian
from scipy.special import gammaln

from nwb_dyn.analysis.metrics._validation import (
    as_batch_time_channel,
    finite_channel_sums,
    require_channel_mask,
    require_labels,
    require_same_shape,
    row_chunks,
)
from nwb_dyn.analysis.metrics.regression import r2_per_output
from nwb_dyn.errors import ConfigError

# NLB replaces zero predicted rates by this floor so that log(rate) stays finite.
ZERO_RATE_FLOOR = 1e-9


def poisson_negative_log_likelihood(counts: np.ndarray, rates: np.ndarray) -> float:
    """Summed Poisson NLL ``L(λ) = Σ (λ − y log λ + log y!)`` over all bins with a finite count.

    counts, rates: arrays of the same shape (any, typically (B, T, D); ``rates`` may also broadcast against
    ``counts``); rates are expected counts per bin and zeros are floored at 1e-9 as in NLB. Rates must be finite
    wherever the count is. Summed in float64, a few rows of the first axis at a time.
    """
    counts = np.atleast_1d(np.asarray(counts))
    rates = np.broadcast_to(np.asarray(rates), counts.shape)
    total = 0.0
    for rows in row_chunks(counts):
        chunk_counts = counts[rows].astype(np.float64)
        observed = np.isfinite(chunk_counts)
        counts_observed = chunk_counts[observed]
        rates_observed = rates[rows].astype(np.float64)[observed]
        if not np.all(np.isfinite(rates_observed)) or np.any(rates_observed < 0):
            raise ConfigError("predicted rates must be finite and non-negative wherever a count is observed")
        rates_observed[rates_observed == 0.0] = ZERO_RATE_FLOOR
        total += float(
            np.sum(rates_observed - counts_observed * np.log(rates_observed) + gammaln(counts_observed + 1.0))
        )
    return total


def bits_per_spike(counts: np.ndarray, rates: np.ndarray) -> float:
    """Information gain over a per-neuron constant rate, in bits per spike.

    ``bps = (L(λ_null) − L(λ)) / (Σ y · ln 2)`` where L is :func:`poisson_negative_log_likelihood` and λ_null is each
    neuron's mean count over all trials and bins given. counts, rates: (B, T, D). Positive means the model predicts
    the spikes better than the neuron's mean rate; 0 for the null model itself; NaN when the counts hold no spike.
    """
    counts = as_batch_time_channel(counts, "counts", keep_float_dtype=True)
    rates = as_batch_time_channel(rates, "rates", keep_float_dtype=True)
    require_same_shape(counts, rates, "counts", "rates")
    channel_sums, channel_bins = finite_channel_sums(counts)
    total_spikes = channel_sums.sum()
    if total_spikes <= 0:
        # Per-spike information is undefined without spikes (NLB divides by zero here); NaN marks "not scorable".
        return float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        null_rates = (channel_sums / channel_bins)[None, None, :]  # NaN for a channel with no finite bin: unused
    null_nll = poisson_negative_log_likelihood(counts, null_rates)
    model_nll = poisson_negative_log_likelihood(counts, rates)
    return float((null_nll - model_nll) / (total_spikes * np.log(2.0)))


def co_bps(counts: np.ndarray, rates: np.ndarray, held_out_units: np.ndarray) -> float:
    """Co-smoothing bits per spike: :func:`bits_per_spike` on the held-out neurons only.

    counts, rates: (B, T, D) of the evaluation trials; held_out_units: (D,) bool, True for neurons whose spikes the
    model never saw on these trials (their rates are predicted from the held-in neurons).
    """
    counts = as_batch_time_channel(counts, "counts", keep_float_dtype=True)
    rates = as_batch_time_channel(rates, "rates", keep_float_dtype=True)
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
    counts: np.ndarray,
    rates: np.ndarray,
    conditions: np.ndarray,
    smoothing_sd_bins: float = 0.0,
    psth_counts: np.ndarray | None = None,
    psth_conditions: np.ndarray | None = None,
) -> float:
    """R² between empirical and predicted peri-stimulus time histograms, averaged over neurons (NLB's "psth R2").

    NLB (``nlb_tools.make_tensors._make_psth`` and ``evaluation.eval_psth``): the empirical PSTH of condition c is
    the trial average of the spikes *smoothed* with NLB's Gaussian kernel (:func:`smooth_counts`) over every trial
    of c it knows (training and evaluation alike): here ``psth_counts`` (B', T, D) with ``psth_conditions`` (B',),
    by default the evaluation trials themselves. The predicted PSTH is the average of the evaluation rates over the
    evaluation trials of c. Both are stacked over conditions to (C*T, D) and scored per neuron with R² (scikit-learn's
    ``r2_score``, uniform average over neurons). NaN (unrecorded, padding) bins are left out of every average and
    of the rows scored.
    counts, rates: (B, T, D) evaluation trials (``counts`` marks which bins are recorded); conditions: (B,) ints
    (negative = no condition); smoothing_sd_bins: NLB's ``kern_sd`` in bins (0 = unsmoothed).
    """
    counts = as_batch_time_channel(counts, "counts")
    rates = as_batch_time_channel(rates, "rates")
    require_same_shape(counts, rates, "counts", "rates")
    if (psth_counts is None) != (psth_conditions is None):
        raise ConfigError("psth_counts and psth_conditions go together: pass both or neither")
    if psth_counts is None:
        psth_counts, psth_conditions = counts, conditions
    psth_counts = as_batch_time_channel(psth_counts, "psth_counts")
    if psth_counts.shape[1:] != counts.shape[1:]:
        raise ConfigError(
            f"psth_counts {psth_counts.shape} must have the bins and channels of counts {counts.shape}"
        )
    known, empirical = condition_averages(smooth_counts(psth_counts, smoothing_sd_bins), psth_conditions)
    labels = require_labels(conditions, "conditions", (counts.shape[0],))
    scored = np.isin(labels, known)
    if not scored.any():
        raise ConfigError("no evaluation trial has a condition that the PSTH trials have")
    recorded = np.isfinite(counts)
    evaluated, predicted = condition_averages(
        np.where(recorded, rates, np.nan)[scored], labels[scored]
    )
    empirical = empirical[np.searchsorted(known, evaluated)].reshape(-1, counts.shape[-1])
    predicted = predicted.reshape(-1, counts.shape[-1])
    scores = [
        r2_per_output(empirical[rows, neuron][:, None], predicted[rows, neuron][:, None])[0]
        for neuron, rows in enumerate((np.isfinite(empirical) & np.isfinite(predicted)).T)
        if rows.any()
    ]
    return float(np.mean(scores))


def smooth_counts(counts: np.ndarray, smoothing_sd_bins: float) -> np.ndarray:
    """Counts (B, T, D) smoothed along time as NLB smooths spikes (``NWBDataset.smooth_spk``); 0 = unchanged.

    The kernel is ``scipy.signal.windows.gaussian(int(6 * sd), sd)`` normalised to sum 1, convolved in ``"same"``
    mode (zeros beyond the ends) and clipped at 0. As NLB with ``ignore_nans=True``, each stretch of recorded
    (finite) bins is smoothed on its own and NaN (unrecorded) bins stay NaN. NLB smooths the whole session at 1 ms
    before binning and cutting trials; here each window is smoothed at its bin width, so the two agree exactly when
    the bins are NLB's and no spike lies within the kernel's reach outside the window.
    """
    if smoothing_sd_bins < 0:
        raise ConfigError(f"smoothing_sd_bins must be >= 0; got {smoothing_sd_bins}")
    if smoothing_sd_bins == 0:
        return counts
    length = int(6 * smoothing_sd_bins)
    if length < 1:
        raise ConfigError(
            f"smoothing_sd_bins {smoothing_sd_bins} gives an empty NLB kernel (int(6 SD) = 0 bins); pass 0 or >= 1/6"
        )
    window = gaussian(length, smoothing_sd_bins, sym=True)
    window /= window.sum()
    counts = np.asarray(counts, dtype=np.float64)
    smoothed = np.full(counts.shape, np.nan)
    finite = np.isfinite(counts)
    whole = finite.all(axis=(1, 2))
    if whole.any():
        smoothed[whole] = _convolve_same(counts[whole], window)
    for trial in np.flatnonzero(~whole):
        shared = bool(np.all(finite[trial] == finite[trial, :, :1]))  # padding: one pattern for all channels
        for channels in [slice(None)] if shared else [slice(d, d + 1) for d in range(counts.shape[2])]:
            recorded = finite[trial, :, channels][:, 0]
            edges = np.flatnonzero(np.diff(recorded.astype(np.int8))) + 1
            for first, stop in zip(np.r_[0, edges], np.r_[edges, len(recorded)]):
                if recorded[first]:
                    smoothed[trial, first:stop, channels] = _convolve_same(
                        counts[None, trial, first:stop, channels], window
                    )[0]
    return np.maximum(smoothed, 0.0, where=np.isfinite(smoothed), out=smoothed)


def _convolve_same(array: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``scipy.signal.convolve(array, window, mode="same")`` along time for array (B, T, D), zeros beyond the ends.

    Computed as a correlation with the reversed kernel (``scipy.ndimage``), which equals it for every kernel length
    and, unlike ``scipy.signal.convolve`` on a 3-D array, does not slow down on long recordings.
    """
    return correlate1d(np.asarray(array, dtype=np.float64), window[::-1], axis=1, mode="constant", cval=0.0)


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
