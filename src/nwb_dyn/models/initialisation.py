"""Initialisation of observation models from the data (both families), before the first optimiser step.

A model whose readout starts at zero predicts softplus(0) = 0.69 spikes per bin for every unit; real units fire
about 0.01–0.5 spikes per 20 ms bin, so the first hundreds of optimiser steps would only move offsets (measured on
MC_Maze_Small: 50 default epochs left every unit near 35 Hz). Instead, as in GPFA and LFADS practice:

* each channel's offset is its mean through the inverse link (log(expm1(ȳ)) for softplus, log ȳ for exp, ȳ for
  Gaussian signals);
* the readout weights are the principal directions of the activity smoothed in time (in counts per bin, where
  active units dominate), scaled so that the latents (the PCA scores) have the requested variance and mapped into
  the linear predictor's units through the link's slope at each offset;
* the Gaussian observation noise starts at the variance the principal subspace leaves unexplained;
* the initial latent state starts at the mean and spread of the scores in the first bin.

Everything here reads training windows only (the caller names them), so validation trials stay unseen.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

#: A (B, T, D) array the initialisation reads window by window: numpy or torch.
ArrayLike = np.ndarray | Tensor

#: Gaussian smoothing of spike counts before PCA (std, seconds): sparse counts alone give noisy directions.
COUNT_SMOOTHING_S = 0.05
#: Smallest mean count per bin used to set an offset (a silent channel would give an offset of −∞).
MIN_MEAN_COUNT = 1e-3
#: Floor of the link's slope when mapping a readout from count units to linear-predictor units.
MIN_LINK_SLOPE = 0.05


class ObservationInit(NamedTuple):
    """Readout and latent statistics estimated from training data.

    offset (D,): linear-predictor offset per channel; weight (P, D): readout matrix of the latents;
    latents (B, T, P): the scaled PCA scores, the latents this readout explains; noise_variance (D,):
    variance the readout leaves unexplained (Gaussian observations; None for counts); initial_mean (P,) and
    initial_std (P,): mean and spread of the scores in the first bin.
    """

    offset: Tensor
    weight: Tensor
    latents: Tensor
    noise_variance: Tensor | None
    initial_mean: Tensor
    initial_std: Tensor


def smooth_in_time(observations: Tensor, width_bins: float, rows_per_chunk: int = 2048) -> Tensor:
    """Gaussian smoothing of y (B, T, D) along time with std ``width_bins`` (edges renormalised): (B, T, D).

    The B·D series are convolved ``rows_per_chunk`` at a time: conv1d unfolds its input by the kernel length, which
    for a whole session of short bins would need tens of GB at once.
    """
    radius = max(1, math.ceil(3 * width_bins))
    offsets = torch.arange(-radius, radius + 1, dtype=observations.dtype)
    kernel = torch.exp(-0.5 * (offsets / width_bins) ** 2).view(1, 1, -1)
    channels, steps = observations.shape[-1], observations.shape[1]
    per_channel = observations.transpose(1, 2).reshape(-1, 1, steps)  # (B·D, 1, T)
    coverage = torch.nn.functional.conv1d(torch.ones_like(per_channel[:1]), kernel, padding=radius)
    smoothed = torch.cat(
        [
            torch.nn.functional.conv1d(chunk, kernel, padding=radius)
            for chunk in per_channel.split(rows_per_chunk)
        ]
    )
    return (smoothed / coverage).reshape(-1, channels, steps).transpose(1, 2)


def inverse_link_offset(means: Tensor, likelihood: str, link: str) -> Tensor:
    """(D,) offsets c with E[y | η = c] equal to the channel means (D,)."""
    if likelihood == "gaussian":
        return means
    means = means.clamp_min(MIN_MEAN_COUNT)
    return means.log() if link == "exp" else torch.log(torch.expm1(means))


def link_slope(offset: Tensor, likelihood: str, link: str) -> Tensor:
    """dE[y]/dη at η = offset (D,): 1 (Gaussian), exp(c) (exp link) or sigmoid(c) (softplus link)."""
    if likelihood == "gaussian":
        return torch.ones_like(offset)
    return offset.exp() if link == "exp" else torch.sigmoid(offset)


#: Entries (windows × bins × channels) :func:`observation_init` reads at once: 2^24 float32 values = 64 MiB per
#: temporary, so a whole session at short bins is summarised in passes instead of copied several times.
ENTRIES_PER_CHUNK = 1 << 24


def _window_chunks(
    values: ArrayLike, mask: ArrayLike, windows: np.ndarray
) -> Iterator[tuple[Tensor, Tensor]]:
    """(values, mask) of consecutive groups of ``windows`` as float32 tensors (B_c, T, D), about
    :data:`ENTRIES_PER_CHUNK` entries per group."""
    per_window = max(1, int(np.prod(values.shape[1:])))
    size = max(1, ENTRIES_PER_CHUNK // per_window)
    for first in range(0, len(windows), size):
        rows = windows[first : first + size]
        yield (
            torch.as_tensor(np.asarray(values[rows]), dtype=torch.float32),
            torch.as_tensor(np.asarray(mask[rows])).float(),
        )


def channel_means(values: ArrayLike, mask: ArrayLike, windows: np.ndarray) -> tuple[Tensor, float]:
    """Mean of each channel over its observed entries in ``windows`` (D,) (0 for a never-seen channel), and the
    variance of all observed entries together (≥ 1e-12): one chunked pass in float64."""
    channels = values.shape[-1]
    sums, observed = torch.zeros(channels, dtype=torch.float64), torch.zeros(channels, dtype=torch.float64)
    sum_of_squares = 0.0
    for chunk_values, chunk_mask in _window_chunks(values, mask, windows):
        masked = chunk_values * chunk_mask
        sums += masked.sum(dim=(0, 1), dtype=torch.float64)
        observed += chunk_mask.sum(dim=(0, 1), dtype=torch.float64)
        sum_of_squares += float((masked.double() ** 2).sum())
    entries = max(float(observed.sum()), 1.0)
    variance = max(sum_of_squares / entries - (float(sums.sum()) / entries) ** 2, 1e-12)
    return (sums / observed.clamp_min(1)).float(), variance


def _filled_chunks(
    values: ArrayLike, mask: ArrayLike, windows: np.ndarray, means: Tensor
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Per chunk of ``windows``: the values with unobserved entries set to the channel means (B_c, T, D), the
    values and the mask as read."""
    for chunk_values, chunk_mask in _window_chunks(values, mask, windows):
        yield chunk_values * chunk_mask + means * (1 - chunk_mask), chunk_values, chunk_mask


class _Covariance:
    """Mean and covariance of rows (N, D) added a chunk at a time, accumulated in float64."""

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.sums = torch.zeros(channels, dtype=torch.float64)
        self.products = torch.zeros(channels, channels, dtype=torch.float64)

    def add(self, rows: Tensor) -> None:
        rows = rows.double()
        self.count += rows.shape[0]
        self.sums += rows.sum(0)
        self.products += rows.T @ rows

    def mean(self) -> Tensor:
        return self.sums / max(self.count, 1)

    def covariance(self) -> Tensor:
        """(D, D), normalised by N − 1."""
        mean = self.mean()
        return (self.products - self.count * torch.outer(mean, mean)) / max(1, self.count - 1)


def observation_init(
    values: ArrayLike,
    mask: ArrayLike,
    latent_dim: int,
    likelihood: str,
    link: str = "softplus",
    smoothing_bins: float = 0.0,
    latent_std: float = 1.0,
    windows: np.ndarray | None = None,
) -> ObservationInit:
    """Offsets, readout, latents and noise of a ``latent_dim``-dimensional linear-Gaussian fit to y (B, T, D).

    values, mask: (B, T, D) arrays (numpy or torch) of the data and its observed entries; ``windows`` (W,) picks the
    windows to read (the training split; None: all), so the caller need not copy them. Unobserved entries are
    filled with the channel mean and carry no weight in the means. ``smoothing_bins`` > 0 smooths in time before
    PCA. ``latent_std`` is the standard deviation the latents get (a model whose latents live in tanh's range wants
    less than 1). The windows are read in chunks (:data:`ENTRIES_PER_CHUNK`): the PCA comes from the (D, D)
    covariance accumulated in float64, so memory stays at the chunk's, not the session's, size.
    """
    windows = np.arange(values.shape[0]) if windows is None else np.asarray(windows, dtype=np.int64)
    channels = values.shape[-1]
    means, observed_variance = channel_means(values, mask, windows)
    offset = inverse_link_offset(means, likelihood, link)

    def centred_chunks() -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Per chunk: the smoothed activity minus the channel means (B_c, T, D), the values and the mask."""
        for filled, chunk_values, chunk_mask in _filled_chunks(values, mask, windows, means):
            smoothed = smooth_in_time(filled, smoothing_bins) if smoothing_bins > 0 else filled
            yield smoothed - means, chunk_values, chunk_mask

    # PCA in the data's own units (dividing by the link's slope first would let the rare spikes of near-silent units
    # dominate the components); the readout is then mapped into the linear predictor's units below.
    moments = _Covariance(channels)
    for centred, _, _ in centred_chunks():
        moments.add(centred.flatten(0, 1))
    centre = moments.mean()
    variances, vectors = torch.linalg.eigh(moments.covariance())  # ascending
    components = min(latent_dim, vectors.shape[0])
    score_std = variances.flip(0)[:components].clamp_min(0).sqrt().float()
    directions = vectors.flip(1)[:, :components].T.float()  # (P', D)
    score_scale = score_std.clamp_min(1e-12) / latent_std
    # E[y] ≈ link(c) + link'(c)·(η − c): a change of the mean by v needs a change of η by v / link'(c). The slope is
    # floored so that a near-silent unit does not get a readout that swings its rate over orders of magnitude.
    slope = link_slope(offset, likelihood, link).clamp_min(MIN_LINK_SLOPE)
    weight = directions * score_scale[:, None] / slope
    if components < latent_dim:  # more latents than channels: the extra ones start unused
        weight = torch.cat([weight, weight.new_zeros(latent_dim - components, weight.shape[1])])
    latent_chunks = []
    squared_residual = torch.zeros(channels, dtype=torch.float64)
    observed = torch.zeros(channels, dtype=torch.float64)
    for centred, chunk_values, chunk_mask in centred_chunks():
        scores = (centred - centre.float()) @ directions.T / score_scale  # (B_c, T, P'), std latent_std
        if components < latent_dim:
            scores = torch.cat([scores, scores.new_zeros(*scores.shape[:2], latent_dim - components)], dim=-1)
        latent_chunks.append(scores)
        if likelihood == "gaussian":  # (slope 1: weight is in the data's units)
            residual = (chunk_values - means - scores @ weight) * chunk_mask
            squared_residual += (residual**2).sum(dim=(0, 1), dtype=torch.float64)
            observed += chunk_mask.sum(dim=(0, 1), dtype=torch.float64)
    latents = torch.cat(latent_chunks) if latent_chunks else torch.zeros(0, values.shape[1], latent_dim)
    noise_variance = None
    if likelihood == "gaussian":
        noise_variance = (squared_residual / observed.clamp_min(1)).float()
        noise_variance = noise_variance.clamp(1e-4 * observed_variance, None)
    first = latents[:, 0]
    return ObservationInit(
        offset=offset.float(),
        weight=weight.float(),
        latents=latents.float(),
        noise_variance=noise_variance,
        initial_mean=first.mean(0).float(),
        initial_std=first.std(0).clamp_min(0.1 * latent_std).nan_to_num(latent_std).float(),
    )


#: Time-shifted copies of the data whose principal components set the noise level in :func:`signal_dimensions`.
SHIFTED_COPIES = 5
#: Quantile of the shifted copies' eigenvalues a component of the data must exceed to count as signal.
SIGNAL_QUANTILE = 0.95


def signal_dimensions(
    values: ArrayLike,
    mask: ArrayLike,
    smoothing_bins: float = 0.0,
    windows: np.ndarray | None = None,
    seed: int = 0,
) -> int:
    """How many principal components of the smoothed activity stand out from noise (parallel analysis).

    The covariance of y (B, T, D) (unobserved entries filled with the channel mean, smoothed in time by
    ``smoothing_bins`` as for :func:`observation_init`) is compared with that of :data:`SHIFTED_COPIES` copies in
    which every channel of every window is circularly shifted in time by its own random offset: each channel keeps
    its variance and its autocorrelation, the correlations between channels are gone. The answer is the number of
    leading components whose eigenvalue exceeds the :data:`SIGNAL_QUANTILE` quantile of the copies' eigenvalue of the
    same order (at least 1). ``windows`` (W,) picks the windows read (None: all); read in chunks, deterministic in
    ``seed``.
    """
    windows = np.arange(values.shape[0]) if windows is None else np.asarray(windows, dtype=np.int64)
    channels, steps = values.shape[-1], values.shape[1]
    generator = torch.Generator().manual_seed(seed)
    means, _ = channel_means(values, mask, windows)
    moments = [_Covariance(channels) for _ in range(SHIFTED_COPIES + 1)]  # the data, then each shifted copy
    for filled, _, _ in _filled_chunks(values, mask, windows, means):
        variants = [filled]
        for _ in range(SHIFTED_COPIES):
            shifts = torch.randint(steps, (filled.shape[0], 1, channels), generator=generator)
            order = (torch.arange(steps).view(1, steps, 1) + shifts) % steps
            variants.append(torch.gather(filled, 1, order))
        for accumulated, variant in zip(moments, variants):
            smoothed = smooth_in_time(variant, smoothing_bins) if smoothing_bins > 0 else variant
            accumulated.add(smoothed.flatten(0, 1))
    covariances = torch.stack([accumulated.covariance() for accumulated in moments])
    eigenvalues = torch.linalg.eigvalsh(covariances).flip(-1)  # (copies + 1, D), descending
    noise = torch.quantile(eigenvalues[1:], SIGNAL_QUANTILE, dim=0)
    above = (eigenvalues[0] > noise).long().cumprod(0)  # leading components only
    return max(1, int(above.sum()))
