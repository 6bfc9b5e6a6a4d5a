"""Variational sequential Monte Carlo for the stochastic low-rank RNN (algorithms.md §1.9–1.12).

The objective is log p̂(y_{1:T}) = Σ_t [logsumexp_k log w_t^k − log K], the log of SMC's unbiased marginal-likelihood
estimate. Particles are resampled systematically at every step; gradients flow through the reparameterised particle
values along the surviving ancestry but not through the resampling indices (the biased VSMC gradient).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nwb_dyn.errors import ConfigError
from nwb_dyn.inference.proposals import (
    PROPOSALS,
    BootstrapProposal,
    EncoderProposal,
    OptimalGaussianProposal,
    Proposal,
)
from nwb_dyn.inference.resampling import systematic_resample
from nwb_dyn.models.lowrank import LowRankRNN


@dataclass
class SMCResult:
    """What one SMC sweep returns.

    log_marginal: (B,) log p̂(y_{1:T}) per sequence.
    filtering_mean: (B, T, R) weighted particle mean at each step (given y_{1:t}), or None when not kept.
    smoothed_paths: (K, B, T, R) the final particles' ancestral paths, or None when not kept.
    final_log_weights: (K, B) log-weights of the paths at T.
    particles: (K, B, T, R) every step's particles after propagation (the filtering clouds), or None when not kept.
    log_weights: (K, B, T) their log-weights, or None when not kept (both with ``keep_clouds``; for backward
        smoothing, :mod:`nwb_dyn.inference.backward_smoother`, and forecasts).
    encoder_alpha: mean weight the encoder proposal gave the encoder (None for other proposals).
    """

    log_marginal: torch.Tensor
    filtering_mean: torch.Tensor | None
    smoothed_paths: torch.Tensor | None
    final_log_weights: torch.Tensor
    encoder_alpha: float | None = None
    particles: torch.Tensor | None = None
    log_weights: torch.Tensor | None = None

    def smoothed_mean(self) -> torch.Tensor:
        """(B, T, R) posterior mean of the latents from the weighted ancestral paths (genealogy smoother)."""
        if self.smoothed_paths is None:
            raise ValueError("run_smc(..., keep_paths=True) is needed for smoothed latents")
        weights = torch.softmax(self.final_log_weights, dim=0)  # (K, B)
        return torch.einsum("kb,kbtr->btr", weights, self.smoothed_paths)


def make_proposal(
    name: str,
    model: LowRankRNN,
    observations: torch.Tensor,
    mask: torch.Tensor,
    input_current: torch.Tensor | None,
    noise: torch.Tensor,
    encoder_output: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Proposal:
    """The proposal called ``name`` prepared for one sweep.

    noise: (T, K, B, R) standard-normal draws; encoder_output: (mean, log-variance) (B, T, R) for ``encoder``.
    """
    if name == "bootstrap":
        return BootstrapProposal(model, observations, mask, input_current, noise)
    if name == "optimal":
        return OptimalGaussianProposal(model, observations, mask, input_current, noise)
    if name == "encoder":
        if encoder_output is None:
            raise ConfigError("lowrank.proposal 'encoder' needs an encoder's output (mean, log-variance)")
        return EncoderProposal(model, observations, mask, input_current, noise, *encoder_output)
    raise ConfigError(f"config key 'lowrank.proposal' must be one of {', '.join(PROPOSALS)}; got '{name}'")


def run_smc(
    model: LowRankRNN,
    observations: torch.Tensor,
    mask: torch.Tensor,
    num_particles: int,
    proposal: str = "bootstrap",
    inputs: torch.Tensor | None = None,
    encoder_output: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    keep_paths: bool = False,
    keep_filtering: bool = False,
    keep_clouds: bool = False,
) -> SMCResult:
    """One SMC sweep with systematic resampling at every step.

    Args:
        observations: (B, T, D) counts or signals; mask: (B, T, D) 1 where observed (others add nothing).
        num_particles: K. proposal: ``bootstrap``, ``optimal`` (Gaussian observations) or ``encoder``.
        inputs: (B, T, D_u) external inputs, or None. encoder_output: (mean, log-variance) (B, T, R) for ``encoder``.
        keep_paths: keep ancestral paths (K, B, T, R); keep_filtering: keep filtering means (B, T, R);
        keep_clouds: keep every step's particles and log-weights. All are for evaluation; training keeps none.
        generator: one generator for the sweep, or B generators, one per sequence, so that each sequence's noise
            does not depend on batching (training/randomness.py: DDP equals one process; resumed epochs replay).
    """
    batch, steps, _ = observations.shape
    dtype = observations.dtype
    mask = mask.to(dtype)
    input_current = model.input_current(inputs)
    # All randomness of the sweep is drawn up front: two calls instead of 2·T small ones.
    noise, offsets = _draw_randomness(steps, num_particles, batch, model.rank, dtype, observations.device, generator)
    sampler = make_proposal(proposal, model, observations, mask, input_current, noise, encoder_output)
    log_k = math.log(num_particles)
    step_currents = None if input_current is None else input_current.unbind(1)  # per-step views, made once
    transition = model.transition_for_sweep()

    particles, log_weights = sampler.initial()
    increments = [torch.logsumexp(log_weights, dim=0)]
    history: list[torch.Tensor] = [particles]
    weight_history: list[torch.Tensor] = [log_weights]
    filtering = [_weighted_mean(log_weights, particles)] if keep_filtering else []
    ancestry: list[torch.Tensor] = []
    for t in range(1, steps):
        ancestors = systematic_resample(log_weights, offsets=offsets[t])  # (K, B)
        particles = torch.gather(particles, 0, ancestors.unsqueeze(-1).expand(-1, -1, model.rank))
        current = None if step_currents is None else step_currents[t - 1]
        particles, log_weights = sampler.step(t, transition(particles, current))
        increments.append(torch.logsumexp(log_weights, dim=0))
        if keep_filtering:
            filtering.append(_weighted_mean(log_weights, particles))
        if keep_paths:
            ancestry.append(ancestors)
        if keep_paths or keep_clouds:
            history.append(particles)
        if keep_clouds:
            weight_history.append(log_weights)
    log_marginal = torch.stack(increments).sum(0) - steps * log_k
    return SMCResult(
        log_marginal=log_marginal,
        filtering_mean=torch.stack(filtering, dim=1) if keep_filtering else None,
        smoothed_paths=trace_paths(history, ancestry) if keep_paths else None,
        final_log_weights=log_weights,
        encoder_alpha=sampler.alpha if isinstance(sampler, EncoderProposal) else None,
        particles=torch.stack(history, dim=2) if keep_clouds else None,
        log_weights=torch.stack(weight_history, dim=2) if keep_clouds else None,
    )


def _draw_randomness(
    steps: int,
    num_particles: int,
    batch: int,
    rank: int,
    dtype: torch.dtype,
    device: torch.device,
    generator: torch.Generator | Sequence[torch.Generator] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard-normal noise (T, K, B, R) and resampling offsets (T, B) float64, from one or B generators."""
    if generator is None or isinstance(generator, torch.Generator):
        noise = torch.randn((steps, num_particles, batch, rank), generator=generator, dtype=dtype, device=device)
        offsets = torch.rand((steps, batch), generator=generator, dtype=torch.float64, device=device)
        return noise, offsets
    noise = torch.stack(
        [torch.randn((steps, num_particles, rank), generator=g, dtype=dtype, device=device) for g in generator], dim=2
    )
    offsets = torch.stack(
        [torch.rand(steps, generator=g, dtype=torch.float64, device=device) for g in generator], dim=1
    )
    return noise, offsets


def _weighted_mean(log_weights: torch.Tensor, particles: torch.Tensor) -> torch.Tensor:
    """(B, R) Σ_k w̄_k z_k for log-weights (K, B) and particles (K, B, R), without gradient."""
    with torch.no_grad():
        return torch.einsum("kb,kbr->br", torch.softmax(log_weights, 0), particles)


def trace_paths(history: list[torch.Tensor], ancestry: list[torch.Tensor]) -> torch.Tensor:
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
