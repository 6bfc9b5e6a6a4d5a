"""Variational sequential Monte Carlo for the stochastic low-rank RNN (algorithms.md §1.9–1.12).

The objective is log p̂(y_{1:T}) = Σ_t [logsumexp_k log w_t^k − log K], the log of SMC's unbiased marginal-likelihood
estimate. Particles are resampled systematically at every step; gradients flow through the reparameterised particle
values along the surviving ancestry but not through the resampling indices (the biased VSMC gradient).

A sweep is the sequential resample–transition–move chain (:mod:`nwb_dyn.inference.particle_chain`, one autograd
node with a hand-written backward pass) followed by the proposal's batched evaluation of all T steps' particles and
log-weights from the chain's prior means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nwb_dyn.errors import ConfigError
from nwb_dyn.inference.particle_chain import ChainSetup, propagate_particles
from nwb_dyn.inference.proposals import (
    PROPOSALS,
    BootstrapProposal,
    EncoderProposal,
    OptimalGaussianProposal,
    Proposal,
)
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
    record: bool = False,
) -> Proposal:
    """The proposal called ``name`` prepared for one sweep.

    noise: (T, K, B, R) standard-normal draws; encoder_output: (mean, log-variance) (B, T, R) for ``encoder``;
    record: keep what the per-step likelihoods compute for the batched differentiable pass (see ``proposals``).
    """
    if name == "bootstrap":
        return BootstrapProposal(model, observations, mask, input_current, noise, record)
    if name == "optimal":
        return OptimalGaussianProposal(model, observations, mask, input_current, noise)
    if name == "encoder":
        if encoder_output is None:
            raise ConfigError("lowrank.proposal 'encoder' needs an encoder's output (mean, log-variance)")
        return EncoderProposal(model, observations, mask, input_current, noise, *encoder_output, record)
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
    differentiable = torch.is_grad_enabled()
    sampler = make_proposal(
        proposal, model, observations, mask, input_current, noise, encoder_output, record=differentiable
    )
    scale, shift = sampler.chain_map()
    setup = ChainSetup(
        sampler.step, offsets, sampler.scale_kind, model.activation, differentiable, native=sampler.native_loop
    )
    chain = propagate_particles(
        setup, sampler.first_mean, scale, shift, input_current, model.decay, model.m, model.n, model.h
    )
    if chain.prior_means.requires_grad:
        # Training: every particle and log-weight again in batched operations, now differentiable; the values equal
        # the loop's, whose resampling they leave unchanged.
        particles, log_weights = sampler.sweep(chain.prior_means)
    else:
        particles, log_weights = chain.particles, chain.log_weights
    log_marginal = torch.logsumexp(log_weights, dim=1).sum(0) - steps * math.log(num_particles)
    filtering = None
    if keep_filtering:
        with torch.no_grad():
            filtering = torch.einsum("tkb,tkbr->btr", torch.softmax(log_weights, dim=1), particles)
    return SMCResult(
        log_marginal=log_marginal,
        filtering_mean=filtering,
        smoothed_paths=trace_paths(list(particles.unbind(0)), list(chain.ancestors.unbind(0))) if keep_paths else None,
        final_log_weights=log_weights[-1],
        encoder_alpha=sampler.alpha if isinstance(sampler, EncoderProposal) else None,
        particles=particles.permute(1, 2, 0, 3) if keep_clouds else None,
        log_weights=log_weights.permute(1, 2, 0) if keep_clouds else None,
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
