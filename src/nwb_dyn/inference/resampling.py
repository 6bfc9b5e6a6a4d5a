"""Vectorised systematic resampling of particle ancestors."""

from __future__ import annotations

import torch


def systematic_resample(log_weights: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Ancestor indices for K particles in each of B sequences, from unnormalised log-weights (K, B).

    One uniform offset u per sequence and positions (u + k)/K located in the cumulative sum of normalised weights
    (float64, divided by its last element against round-off), so index k is drawn ⌊K·w_k⌋ or ⌈K·w_k⌉ times. Indices
    carry no gradient: the weights are detached (the biased VSMC gradient of algorithms.md §1.9).

    Returns (K, B) int64.
    """
    num_particles, num_sequences = log_weights.shape
    weights = torch.softmax(log_weights.detach().double(), dim=0).T  # (B, K)
    if torch.isnan(weights).any():
        raise FloatingPointError("NaN particle weights in systematic resampling")
    cumulative = torch.cumsum(weights, dim=1)
    cumulative = cumulative / cumulative[:, -1:]
    offsets = torch.rand(num_sequences, 1, generator=generator, dtype=torch.float64, device=weights.device)
    positions = (offsets + torch.arange(num_particles, device=weights.device, dtype=torch.float64)) / num_particles
    ancestors = torch.searchsorted(cumulative, positions, right=False).clamp_(max=num_particles - 1)
    return ancestors.T.contiguous()
