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

Everything here reads training windows only (the caller passes them), so validation trials stay unseen.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

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


def channel_means(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of each channel over its observed entries: values, mask (B, T, D) → (D,) (0 for a never-seen channel)."""
    observed = mask.sum(dim=(0, 1))
    return (values * mask).sum(dim=(0, 1)) / observed.clamp_min(1)


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


def observation_init(
    values: Tensor,
    mask: Tensor,
    latent_dim: int,
    likelihood: str,
    link: str = "softplus",
    smoothing_bins: float = 0.0,
    latent_std: float = 1.0,
) -> ObservationInit:
    """Offsets, readout, latents and noise of a ``latent_dim``-dimensional linear-Gaussian fit to y (B, T, D).

    values, mask: (B, T, D) training windows and their observed entries (unobserved entries are filled with the
    channel mean and carry no weight in the means). ``smoothing_bins`` > 0 smooths in time before PCA.
    ``latent_std`` is the standard deviation the latents get (a model whose latents live in tanh's range wants
    less than 1).
    """
    values, mask = values.float(), mask.float()  # float32: a whole session at 5 ms bins is GBs in float64
    means = channel_means(values, mask)
    offset = inverse_link_offset(means, likelihood, link)
    filled = values * mask + means * (1 - mask)
    smoothed = smooth_in_time(filled, smoothing_bins) if smoothing_bins > 0 else filled
    # PCA in the data's own units (dividing by the link's slope first would let the rare spikes of near-silent units
    # dominate the components); the readout is then mapped into the linear predictor's units below.
    flat = (smoothed - means).flatten(0, 1)
    centre = flat.mean(0)
    # PCA from the (D, D) covariance: memory of D², not of an SVD of the whole (B·T, D) session
    covariance = (flat - centre).T @ (flat - centre) / max(1, flat.shape[0] - 1)
    variances, vectors = torch.linalg.eigh(covariance)  # ascending
    components = min(latent_dim, vectors.shape[0])
    score_std = variances.flip(0)[:components].clamp_min(0).sqrt()
    directions = vectors.flip(1)[:, :components].T  # (P', D)
    score_scale = score_std.clamp_min(1e-12) / latent_std
    scores = (flat - centre) @ directions.T / score_scale  # (B·T, P'), std latent_std
    # E[y] ≈ link(c) + link'(c)·(η − c): a change of the mean by v needs a change of η by v / link'(c). The slope is
    # floored so that a near-silent unit does not get a readout that swings its rate over orders of magnitude.
    slope = link_slope(offset, likelihood, link).clamp_min(MIN_LINK_SLOPE)
    weight = directions * score_scale[:, None] / slope
    if components < latent_dim:  # more latents than channels: the extra ones start unused
        weight = torch.cat([weight, weight.new_zeros(latent_dim - components, weight.shape[1])])
        scores = torch.cat([scores, scores.new_zeros(scores.shape[0], latent_dim - components)], dim=1)
    latents = scores.unflatten(0, values.shape[:2])
    noise_variance = None
    if likelihood == "gaussian":  # (slope 1: weight is in the data's units)
        residual = (values - means - latents @ weight) * mask
        noise_variance = (residual**2).sum(dim=(0, 1)) / mask.sum(dim=(0, 1)).clamp_min(1)
        noise_variance = noise_variance.clamp(1e-4 * values.var().clamp_min(1e-12), None)
    first = latents[:, 0]
    return ObservationInit(
        offset=offset.float(),
        weight=weight.float(),
        latents=latents.float(),
        noise_variance=None if noise_variance is None else noise_variance.float(),
        initial_mean=first.mean(0).float(),
        initial_std=first.std(0).clamp_min(0.1 * latent_std).nan_to_num(latent_std).float(),
    )
