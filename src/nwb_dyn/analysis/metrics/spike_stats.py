"""Statistics of spike trains, to compare a model's generated spikes with held-out recordings (Pals et al. 2024).

All functions take binned counts (B, T, D) = trials x bins x neurons. A bin with one or more spikes is one event
for the inter-spike-interval statistics (binning cannot resolve the times of several spikes in one bin).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nwb_dyn.analysis.metrics._validation import as_batch_time_channel, finite_channel_sums, row_chunks
from nwb_dyn.errors import ConfigError


def mean_rates_hz(counts: np.ndarray, bin_width_s: float) -> np.ndarray:
    """Mean firing rate of every neuron in Hz: mean count per bin / bin width. counts (B, T, D) -> (D,)."""
    if bin_width_s <= 0:
        raise ConfigError(f"bin_width_s must be > 0 seconds; got {bin_width_s}")
    counts = as_batch_time_channel(counts, "counts", keep_float_dtype=True)
    sums, bins = finite_channel_sums(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / bins / bin_width_s  # NaN for a neuron without a finite bin


class IsiStatistics(NamedTuple):
    """Per-neuron inter-spike-interval statistics in seconds; each (D,), NaN where too few intervals or SD = 0."""

    mean_s: np.ndarray
    sd_s: np.ndarray
    cv: np.ndarray


def isi_statistics(counts: np.ndarray, bin_width_s: float, min_intervals: int = 2) -> IsiStatistics:
    """Mean, SD (ddof 0) and coefficient of variation of each neuron's inter-spike intervals.

    Event times are the indices of bins with at least one spike; intervals are their differences times
    ``bin_width_s``, taken within each trial and pooled over trials. Neurons with fewer than ``min_intervals``
    intervals get NaN everywhere, and a neuron whose intervals are all equal gets NaN CV.
    counts (B, T, D) -> three (D,) arrays.
    """
    trajectories = as_batch_time_channel(counts, "counts", keep_float_dtype=True)
    n_neurons = trajectories.shape[-1]
    means, sds, cvs = (np.full(n_neurons, np.nan) for _ in range(3))
    for neuron in range(n_neurons):
        intervals = (
            np.concatenate([np.diff(np.flatnonzero(trial > 0)) for trial in trajectories[:, :, neuron]])
            * bin_width_s
        )
        if intervals.size < min_intervals:
            continue
        means[neuron] = intervals.mean()
        sds[neuron] = intervals.std()
        if sds[neuron] > 0:
            cvs[neuron] = sds[neuron] / means[neuron]
    return IsiStatistics(mean_s=means, sd_s=sds, cv=cvs)


def pairwise_correlations(counts: np.ndarray) -> np.ndarray:
    """Pearson correlations of the binned counts of every neuron pair (i < j), bins of all trials pooled.

    counts (B, T, D) -> (D (D − 1) / 2,) in ``np.triu_indices(D, k=1)`` order; NaN for pairs with a silent or
    constant neuron.
    """
    trajectories = as_batch_time_channel(counts, "counts", keep_float_dtype=True)
    n_neurons = trajectories.shape[-1]
    count, sums, products = 0, np.zeros(n_neurons), np.zeros((n_neurons, n_neurons))
    for chunk in row_chunks(trajectories):  # float64 moments a few trials at a time
        rows = trajectories[chunk].reshape(-1, n_neurons).astype(np.float64)
        count += rows.shape[0]
        sums += rows.sum(axis=0)
        products += rows.T @ rows
    mean = sums / max(count, 1)
    covariance = products - count * np.outer(mean, mean)  # Σ (x − x̄)(y − ȳ) over all bins
    norms = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    norms[norms <= 1e-9 * max(count, 1)] = 0.0  # a silent or constant neuron (round-off leaves a tiny variance)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.outer(norms, norms)
    return correlation[np.triu_indices(n_neurons, k=1)]


def finite_pearson(first: np.ndarray, second: np.ndarray) -> float:
    """Pearson correlation of two 1-D arrays over the entries finite in both; NaN if fewer than 2 or no variance."""
    both = np.isfinite(first) & np.isfinite(second)
    if both.sum() < 2:
        return float("nan")
    x = first[both] - first[both].mean()
    y = second[both] - second[both].mean()
    denominator = np.sqrt(np.sum(x**2) * np.sum(y**2))
    if denominator == 0:
        return float("nan")
    return float(np.sum(x * y) / denominator)


def finite_rmse(first: np.ndarray, second: np.ndarray) -> float:
    """Root-mean-square difference of two 1-D arrays over the entries finite in both; NaN if there are none."""
    both = np.isfinite(first) & np.isfinite(second)
    if not both.any():
        return float("nan")
    return float(np.sqrt(np.mean((first[both] - second[both]) ** 2)))


def compare_spike_statistics(
    generated: np.ndarray, reference: np.ndarray, bin_width_s: float
) -> dict[str, float]:
    """How well generated spikes reproduce a recording's mean rates, ISI statistics and pairwise correlations.

    generated (B', T', D) samples from the model, reference (B, T, D) held-out counts, same neurons. For every
    statistic the per-neuron (or per-pair) values of both data sets are compared across neurons by Pearson r and
    RMSE — the numbers behind the generated-vs-test scatter plots of Pals et al. (2024).
    Returns keys ``mean_rate_r``, ``mean_rate_rmse_hz``, ``isi_mean_r``, ``isi_mean_rmse_s``, ``isi_cv_r``,
    ``pairwise_correlation_r``, ``pairwise_correlation_rmse``.
    """
    generated = as_batch_time_channel(generated, "generated", keep_float_dtype=True)
    reference = as_batch_time_channel(reference, "reference", keep_float_dtype=True)
    if generated.shape[-1] != reference.shape[-1]:
        raise ConfigError(
            f"generated spikes have {generated.shape[-1]} neurons but the reference has {reference.shape[-1]}; "
            "generate the same units"
        )
    generated_rates, reference_rates = (
        mean_rates_hz(generated, bin_width_s),
        mean_rates_hz(reference, bin_width_s),
    )
    generated_isi, reference_isi = (
        isi_statistics(generated, bin_width_s),
        isi_statistics(reference, bin_width_s),
    )
    generated_pairs, reference_pairs = pairwise_correlations(generated), pairwise_correlations(reference)
    return {
        "mean_rate_r": finite_pearson(generated_rates, reference_rates),
        "mean_rate_rmse_hz": finite_rmse(generated_rates, reference_rates),
        "isi_mean_r": finite_pearson(generated_isi.mean_s, reference_isi.mean_s),
        "isi_mean_rmse_s": finite_rmse(generated_isi.mean_s, reference_isi.mean_s),
        "isi_cv_r": finite_pearson(generated_isi.cv, reference_isi.cv),
        "pairwise_correlation_r": finite_pearson(generated_pairs, reference_pairs),
        "pairwise_correlation_rmse": finite_rmse(generated_pairs, reference_pairs),
    }


def relative_spike_statistics_errors(
    generated: np.ndarray, reference: np.ndarray, bin_width_s: float
) -> dict[str, float]:
    """Scale-aware companion of :func:`compare_spike_statistics`: how far, relative to the reference, each neuron's
    statistics are.

    generated (B', T', D), reference (B, T, D). Returns ``rate_correlation`` (Pearson r of per-neuron mean rates) and
    ``rate_error``, ``isi_error``, ``cv_error``: the median over neurons of |model / reference − 1| for the mean
    rate, the mean inter-spike interval and the ISI coefficient of variation (neurons without enough intervals
    are left out). Correlation alone cannot see rates that are all twice too high; these errors can.
    """
    rates_reference, rates_generated = mean_rates_hz(reference, bin_width_s), mean_rates_hz(generated, bin_width_s)
    isi_reference, isi_generated = isi_statistics(reference, bin_width_s), isi_statistics(generated, bin_width_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "rate_correlation": finite_pearson(rates_generated, rates_reference),
            "rate_error": float(np.nanmedian(np.abs(rates_generated / rates_reference - 1))),
            "isi_error": float(np.nanmedian(np.abs(isi_generated.mean_s / isi_reference.mean_s - 1))),
            "cv_error": float(np.nanmedian(np.abs(isi_generated.cv / isi_reference.cv - 1))),
        }
