"""Vectorised systematic resampling of particle ancestors (no Python loop over particles or sequences)."""

from __future__ import annotations

import torch


def systematic_resample(
    log_weights: torch.Tensor, generator: torch.Generator | None = None, offsets: torch.Tensor | None = None
) -> torch.Tensor:
    """Ancestor indices for K particles in each of B sequences, from unnormalised log-weights (K, B).

    One uniform offset u per sequence and positions (u + k)/K located in the cumulative sum of normalised weights
    (float64), so index k is drawn ⌊K·w_k⌋ or ⌈K·w_k⌉ times. Indices carry no gradient: the weights are detached
    (the biased VSMC gradient of algorithms.md §1.9).

    offsets: (B,) uniforms in [0, 1) to use instead of drawing them (an SMC sweep draws all T at once).
    Returns (K, B) int64. Raises FloatingPointError on NaN weights.
    """
    num_particles, num_sequences = log_weights.shape
    if torch.isnan(log_weights).any():
        raise FloatingPointError("NaN particle weights in systematic resampling")
    if offsets is None:
        offsets = torch.rand(num_sequences, generator=generator, dtype=torch.float64, device=log_weights.device)
    return ancestors_at(log_weights, systematic_positions(offsets, num_particles))


def systematic_positions(offsets: torch.Tensor, num_particles: int) -> torch.Tensor:
    """Positions (u + k)/K, k = 0..K−1, float64 (..., K) for offsets u (...) in [0, 1): made once per sweep."""
    grid = torch.arange(num_particles, device=offsets.device, dtype=torch.float64)
    return (offsets.to(torch.float64).unsqueeze(-1) + grid) / num_particles


def ancestors_at(log_weights: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Ancestor indices (K, B) int64: where positions (B, K) fall in the cumulative normalised weights.

    The weights are detached and summed in float64; a position beyond the last cumulative sum (round-off) takes
    the last particle. NaN weights give arbitrary indices: callers check for them.
    """
    num_particles = log_weights.shape[0]
    weights = torch.softmax(log_weights.detach().T.to(torch.float64, memory_format=torch.contiguous_format), dim=1)
    cumulative = weights.cumsum_(1)  # (B, K)
    return torch.searchsorted(cumulative, positions, right=True).clamp_(max=num_particles - 1).T
