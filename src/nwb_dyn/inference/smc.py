"""Variational sequential Monte Carlo for the stochastic low-rank RNN (algorithms.md §1.9–1.12).

The objective is log p̂(y_{1:T}), the log of SMC's unbiased marginal-likelihood estimate; gradients flow through
the reparameterised particle values but not through the resampling indices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nwb_dyn.inference.resampling import systematic_resample
from nwb_dyn.models.lowrank import LowRankRNN


@dataclass
class SMCResult:
    """What one SMC sweep returns.

    log_marginal: (B,) log p̂(y_{1:T}) per sequence.
    filtering_mean: (B, T, R) weighted particle mean at each step (given y_{1:t}).
    smoothed_paths: (K, B, T, R) the particles' full ancestral paths at the end, or None when not kept.
    final_log_weights: (K, B) log-weights of the paths at T.
    """

    log_marginal: torch.Tensor
    filtering_mean: torch.Tensor
    smoothed_paths: torch.Tensor | None
    final_log_weights: torch.Tensor

    def smoothed_mean(self) -> torch.Tensor:
        """(B, T, R) posterior mean of the latents from the weighted ancestral paths (genealogy smoother)."""
        if self.smoothed_paths is None:
            raise ValueError("run_smc(..., keep_paths=True) is needed for smoothed latents")
        weights = torch.softmax(self.final_log_weights, dim=0)  # (K, B)
        return torch.einsum("kb,kbtr->btr", weights, self.smoothed_paths)


def run_smc(
    model: LowRankRNN,
    observations: torch.Tensor,
    mask: torch.Tensor,
    num_particles: int,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    keep_paths: bool = False,
) -> SMCResult:
    """Bootstrap-proposal SMC with systematic resampling at every step.

    Args:
        observations: (B, T, D) counts or signals.
        mask: (B, T, D) 1 where observed; unobserved entries add nothing to the likelihood.
        num_particles: K.
        generator: one generator for the batch, or a sequence of B generators, one per sequence, so that each
            sequence's noise is independent of batching (training/randomness.py; used for DDP and exact resume).
        keep_paths: keep ancestral paths (K, B, T, R) for smoothing (evaluation only; costs memory).
    """
    batch, steps, _ = observations.shape
    rank = model.rank
    dtype = observations.dtype
    mask = mask.to(dtype)
    log_k = math.log(num_particles)

    def noise() -> torch.Tensor:
        if generator is None or isinstance(generator, torch.Generator):
            return torch.randn(
                (num_particles, batch, rank), generator=generator, dtype=dtype, device=observations.device
            )
        per_sequence = [
            torch.randn((num_particles, rank), generator=g, dtype=dtype, device=observations.device)
            for g in generator
        ]
        return torch.stack(per_sequence, dim=1)

    particles = model.initial_mean + model.initial_std() * noise()  # (K, B, R)
    log_weights = model.observation.log_prob(observations[:, 0], particles, mask[:, 0])  # (K, B)
    log_marginal = torch.logsumexp(log_weights, dim=0) - log_k
    filtering = [torch.einsum("kb,kbr->br", torch.softmax(log_weights, 0), particles)]
    history: list[torch.Tensor] = [particles]
    ancestry: list[torch.Tensor] = []
    transition_std = model.transition_std()
    for t in range(1, steps):
        ancestors = systematic_resample(log_weights, generator)  # (K, B)
        gather_index = ancestors.unsqueeze(-1).expand(-1, -1, rank)
        particles = torch.gather(particles, 0, gather_index)
        if keep_paths:
            ancestry.append(ancestors)
        particles = model.transition_mean(particles) + transition_std * noise()
        log_weights = model.observation.log_prob(observations[:, t], particles, mask[:, t])
        log_marginal = log_marginal + torch.logsumexp(log_weights, dim=0) - log_k
        filtering.append(torch.einsum("kb,kbr->br", torch.softmax(log_weights, 0), particles))
        if keep_paths:
            history.append(particles)
    return SMCResult(
        log_marginal=log_marginal,
        filtering_mean=torch.stack(filtering, dim=1),
        smoothed_paths=_trace_paths(history, ancestry) if keep_paths else None,
        final_log_weights=log_weights,
    )


def _trace_paths(history: list[torch.Tensor], ancestry: list[torch.Tensor]) -> torch.Tensor:
    """Follow each final particle's ancestors back to t = 1.

    history: T tensors (K, B, R) of particles after propagation; ancestry: T − 1 tensors (K, B) of the indices
    resampled before each step. Returns (K, B, T, R) paths.
    """
    rank = history[0].shape[-1]
    lineage: torch.Tensor | None = None
    steps = [history[-1]]
    for t in range(len(history) - 2, -1, -1):
        lineage = ancestry[t] if lineage is None else torch.gather(ancestry[t], 0, lineage)
        steps.append(torch.gather(history[t], 0, lineage.unsqueeze(-1).expand(-1, -1, rank)))
    return torch.stack(steps[::-1], dim=2)
