"""Vectorised systematic resampling of particle ancestors (no Python loop over particles or sequences)."""

from __future__ import annotations

import torch


def systematic_resample(
    log_weights: torch.Tensor, generator: torch.Generator | None = None, offsets: torch.Tensor | None = None
) -> torch.Tensor:
    """Ancestor indices for K particles in each of B sequences, from unnormalised log-weights (K, B).

    One uniform offset u per sequence and positions (u + k)/K located in the cumulative sum of normalised weights
    (float64, divided by its last element against round-off), so index k is drawn ⌊K·w_k⌋ or ⌈K·w_k⌉ times. Indices
    carry no gradient: the weights are detached (the biased VSMC gradient of algorithms.md §1.9).

    offsets: (B,) uniforms in [0, 1) to use instead of drawing them (an SMC sweep draws all T at once).
    Returns (K, B) int64. Raises FloatingPointError on NaN weights.
    """
    num_particles, num_sequences = log_weights.shape
    weights = torch.softmax(log_weights.detach().double(), dim=0).T  # (B, K)
    cumulative = torch.cumsum(weights, dim=1)
    total = cumulative[:, -1:]
    if torch.isnan(total).any():
        raise FloatingPointError("NaN particle weights in systematic resampling")
    cumulative = cumulative / total
    if offsets is None:
        offsets = torch.rand(num_sequences, generator=generator, dtype=torch.float64, device=weights.device)
    grid = torch.arange(num_particles, device=weights.device, dtype=torch.float64)
    positions = (offsets.to(torch.float64).unsqueeze(1) + grid) / num_particles
    ancestors = torch.searchsorted(cumulative, positions, right=True).clamp_(max=num_particles - 1)
    return ancestors.T
