"""The sequential part of a low-rank SMC sweep as one autograd operation with a hand-written backward pass.

A sweep alternates, for t = 1..T−1, resampling, the transition F_t = F(z_{t−1}[a_t]) and the proposal's move
z_t = S_t·F_t + o_t (S_t: identity, a diagonal or an R×R matrix; o_t: everything that does not depend on F, noise
included). Only this chain is sequential: given the prior means F_{1:T}, every particle and every log-weight of all
T steps follows in a few batched operations (``Proposal.sweep``). Built step by step with autograd, the chain costs
~25 graph nodes per step whose bookkeeping, not arithmetic, sets the speed at spike-count model sizes (K·B·N ~ 10⁴).
Here the forward pass runs the whole loop without a graph (the proposal's per-step log-weights only decide
resampling) and the backward pass walks it in reverse:

    ∂L/∂z_t   = Σ over the particles that resampled z_t of ∂L/∂z̃_{t+1}   (scatter-add by ancestor index),
    ∂L/∂F_t  += Sᵀ_t·∂L/∂z_t,    ∂L/∂z̃_t = transition backward of ∂L/∂F_t   (z̃_t = z_{t−1}[a_t]),
    ∂L/∂o_t   = ∂L/∂z_t,          ∂L/∂S_t = Σ_k F_t ⊗ ∂L/∂z_t.

Gradients do not flow through the ancestor indices (the biased VSMC gradient of algorithms.md §1.9).
Proposals with a compiled loop (:mod:`nwb_dyn.native.particle_loop`: bootstrap and encoder proposals with Poisson
observations, the optimal proposal with Gaussian ones) run the forward pass compiled and then the backward pass
compiled, from the activations the forward pass kept or recomputing them; the torch loops below are the reference
and the fallback.
Shapes: K particles, B sequences, T steps, R latents, N units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from nwb_dyn.inference.resampling import ancestors_at, systematic_positions
from nwb_dyn.models.lowrank_step import (
    TransitionActivations,
    backward_from_activations,
    fits_one_chunk,
    transition_backward,
    transition_forward,
    transition_with_activations,
)
from nwb_dyn.native.particle_loop import KeptActivations, LoopInputs, LoopOutput, run_particle_loop_backward

# The most floats a sweep keeps as activations for its backward pass (128 MiB in float32); beyond, recomputed.
_KEPT_FLOATS = 1 << 25

StepFunction = Callable[[int, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
NativeLoop = Callable[[LoopInputs], LoopOutput | None]


@dataclass(frozen=True)
class ChainSetup:
    """What the chain needs besides its differentiable inputs.

    step: the proposal's (t, F_t (K, B, R)) → (z_t (K, B, R), log-weights (K, B)), called without gradients.
    offsets: (T, B) float64 uniforms of the systematic resampling. scale_kind: ``identity``, ``diagonal`` (S_t is
    (B, R)) or ``matrix`` (S_t is (R, R), or (B, R, R) per sequence, applied as z = F·S_t). differentiable: whether
    a backward pass will follow (else nothing is kept for one). native: the proposal's compiled forward loop
    (:mod:`nwb_dyn.native.particle_loop`), which returns None where it cannot run; the torch loop then runs.
    """

    step: StepFunction
    offsets: torch.Tensor
    scale_kind: str
    activation: str
    differentiable: bool
    native: NativeLoop | None = None


class ChainOutput(NamedTuple):
    """prior_means F (T, K, B, R), differentiable; particles z (T, K, B, R), log_weights (T, K, B) and ancestors
    (T − 1, K, B) int64 as the loop computed them, without gradient."""

    prior_means: torch.Tensor
    particles: torch.Tensor
    log_weights: torch.Tensor
    ancestors: torch.Tensor


def _move_transposed(grad: torch.Tensor, scale: torch.Tensor | None, kind: str) -> torch.Tensor:
    """Sᵀ·g for g = ∂L/∂z (K, B, R): the gradient the move passes to F."""
    if kind == "identity":
        return grad
    if kind == "diagonal":
        return grad * scale
    if scale.dim() == 2:
        return grad @ scale.T
    return (grad.unsqueeze(-2) @ scale.transpose(-1, -2)).squeeze(-2)


class _ParticleChain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, setup, first_mean, scale, shift, currents, decay, m, n, h):  # type: ignore[override]
        steps, particles_count, batch, _ = shift.shape
        # Small steps keep their (K·B, N) activations for a backward pass, up to a memory bound.
        units = m.shape[0]
        keep = setup.differentiable and fits_one_chunk(particles_count * batch, units) and (
            3 * (steps - 1) * particles_count * batch * units <= _KEPT_FLOATS
        )
        compiled = None
        if setup.native is not None:
            compiled = setup.native(
                LoopInputs(first_mean, currents, decay, m, n, h, setup.activation, setup.offsets, keep)
            )
        if compiled is not None:
            # Its activations, when kept, serve its own backward pass (below); the torch one recomputes them.
            prior_means, particles, log_weights, ancestry = compiled[:4]
            kept = []
        else:
            prior_means, particles, log_weights, ancestry, kept = _torch_loop(
                setup, first_mean, shift.shape, currents, decay, m, n, h, keep
            )
        if torch.isnan(log_weights).any():
            raise FloatingPointError("NaN particle weights in systematic resampling")
        ctx.setup = setup
        ctx.kept = kept  # internal to the sweep, never modified in place
        # A compiled forward pass is followed by a compiled backward pass, from the activations the loop kept (only
        # these, not the loop's outputs: ctx holding its own outputs would make a reference cycle) or recomputing them.
        ctx.compiled = compiled is not None
        ctx.compiled_kept = None
        if compiled is not None and compiled.rates is not None:
            ctx.compiled_kept = KeptActivations(compiled.rates, compiled.slope_x, compiled.slope_h)
        ctx.save_for_backward(first_mean, scale, currents, decay, m, n, h, prior_means, particles, ancestry)
        ctx.mark_non_differentiable(particles, log_weights, ancestry)
        return prior_means, particles, log_weights, ancestry

    @staticmethod
    def backward(ctx, grad_prior_means, *unused):  # type: ignore[override]
        setup = ctx.setup
        first_mean, scale, currents, decay, m, n, h, prior_means, particles, ancestry = ctx.saved_tensors
        rank, kind = particles.shape[-1], setup.scale_kind
        index = ancestry.unsqueeze(-1).expand(-1, -1, -1, rank)  # (T − 1, K, B, R)
        resampled = torch.gather(particles[:-1], 1, index)  # z̃_t = z_{t−1}[a_t] for t = 1..T−1
        compiled = None
        if ctx.compiled:
            loop = LoopInputs(first_mean, currents, decay, m, n, h, setup.activation, setup.offsets, False)
            share = scale
            if kind == "matrix":  # S_t per sequence: (T, B, R, R)
                share = (scale if scale.dim() == 4 else scale.unsqueeze(1)).expand(-1, particles.shape[2], -1, -1)
            compiled = run_particle_loop_backward(
                particles, ancestry, ctx.compiled_kept, grad_prior_means, share, kind == "matrix", loop
            )
        if compiled is not None:
            grad_priors, grad_particles, grad_m, grad_n, grad_h, grad_currents = compiled
        else:
            grad_priors, grad_particles, grad_currents, grad_m, grad_n, grad_h = _torch_backward(
                ctx, grad_prior_means, resampled, index
            )
        grad_decay = (grad_priors[1:] * resampled).sum().reshape(decay.shape)
        grad_first = grad_priors[0].sum_to_size(first_mean.shape)
        grad_scale = None
        if scale is not None and ctx.needs_input_grad[2]:
            grad_scale = _scale_gradient(prior_means, grad_particles, scale, kind)
        return None, grad_first, grad_scale, grad_particles, grad_currents, grad_decay, grad_m, grad_n, grad_h


def _torch_backward(
    ctx, grad_prior_means: torch.Tensor | None, resampled: torch.Tensor, index: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """The chain's backward pass in torch operations (see the module docstring): ∂L/∂F and ∂L/∂z (T, K, B, R),
    and the gradients of the input currents (or None), m, n and h; ``resampled`` z̃ and ``index`` (T − 1, K, B, R)."""
    setup = ctx.setup
    _, scale, currents, decay, m, n, h, prior_means, particles, _ = ctx.saved_tensors
    steps, kind = particles.shape[0], setup.scale_kind
    grad_priors = torch.zeros_like(prior_means) if grad_prior_means is None else grad_prior_means.clone()
    grad_particles = torch.zeros_like(particles)  # ∂L/∂z_t through later steps only (z_{T−1} feeds none)
    parameter_grads: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (m, n, h) per step
    grad_currents = None if currents is None else torch.zeros_like(currents)
    # Step by step, with each step's kept activations or, for wide steps, its currents recomputed in row chunks
    # (step by step measured faster on a CPU than batching the products over T: the data stay in cache).
    for t in range(steps - 1, 0, -1):
        if t < steps - 1:
            grad_priors[t] += _move_transposed(grad_particles[t], None if scale is None else scale[t], kind)
        current = None if currents is None else currents[:, t - 1].unsqueeze(0)
        if ctx.kept:
            grads = backward_from_activations(resampled[t - 1], current, decay, m, n, ctx.kept[t - 1], grad_priors[t])
        else:
            grads = transition_backward(
                resampled[t - 1], current, decay, m, n, h, setup.activation, grad_priors[t], decay_gradient=False
            )
        grad_particles[t - 1].scatter_add_(0, index[t - 1], grads.latents)
        parameter_grads.append((grads.m, grads.n, grads.h))
        if grad_currents is not None:
            grad_currents[:, t - 1] += grads.input_current[0]
    if steps == 1:
        return grad_priors, grad_particles, grad_currents, *(torch.zeros_like(x) for x in (m, n, h))
    grad_priors[0] += _move_transposed(grad_particles[0], None if scale is None else scale[0], kind)
    # Summed once over steps rather than accumulated step by step: 3 operations instead of 3·(T − 1).
    grad_m, grad_n, grad_h = (torch.stack(parts).sum(0) for parts in zip(*parameter_grads))
    return grad_priors, grad_particles, grad_currents, grad_m, grad_n, grad_h


def _torch_loop(
    setup: ChainSetup, first_mean: torch.Tensor, shape: torch.Size, currents: torch.Tensor | None,
    decay: torch.Tensor, m: torch.Tensor, n: torch.Tensor, h: torch.Tensor, keep: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[TransitionActivations]]:
    """The chain's forward loop in torch operations for a sweep of ``shape`` (T, K, B, R): prior means and
    particles (T, K, B, R), log-weights (T, K, B), ancestors (T − 1, K, B) and, with ``keep``, every transition's
    activations."""
    steps, particles_count, batch, rank = shape
    positions = systematic_positions(setup.offsets, particles_count)  # (T, B, K)
    prior = first_mean.expand(particles_count, batch, rank)
    priors, particles, weights, ancestry, kept = [], [], [], [], []
    for t in range(steps):
        if t > 0:
            ancestors = ancestors_at(weights[-1], positions[t])  # (K, B)
            resampled = torch.gather(particles[-1], 0, ancestors.unsqueeze(-1).expand(-1, -1, rank))
            current = None if currents is None else currents[:, t - 1].unsqueeze(0)
            if keep:
                prior, activations = transition_with_activations(resampled, current, decay, m, n, h, setup.activation)
                kept.append(activations)
            else:
                prior = transition_forward(resampled, current, decay, m, n, h, setup.activation)
            ancestry.append(ancestors)
        moved, log_weights = setup.step(t, prior)
        priors.append(prior)
        particles.append(moved)
        weights.append(log_weights)
    ancestors = torch.stack(ancestry) if ancestry else first_mean.new_empty((0, particles_count, batch), dtype=torch.long)
    return torch.stack(priors), torch.stack(particles), torch.stack(weights), ancestors, kept


def _scale_gradient(prior_means: torch.Tensor, grad_particles: torch.Tensor, scale: torch.Tensor, kind: str):
    """∂L/∂S_t = Σ_k F_t ⊗ ∂L/∂z_t for all t at once: (T, B, R), (T, R, R) or (T, B, R, R) like ``scale``."""
    if kind == "diagonal":
        return (prior_means * grad_particles).sum(1)
    if scale.dim() == 3:
        return torch.einsum("tkbr,tkbs->trs", prior_means, grad_particles)
    return torch.einsum("tkbr,tkbs->tbrs", prior_means, grad_particles)


def propagate_particles(
    setup: ChainSetup,
    first_mean: torch.Tensor,
    scale: torch.Tensor | None,
    shift: torch.Tensor,
    currents: torch.Tensor | None,
    decay: torch.Tensor,
    m: torch.Tensor,
    n: torch.Tensor,
    h: torch.Tensor,
) -> ChainOutput:
    """Run the resample–transition–move chain of one sweep.

    first_mean: (B, R) prior mean of z_1; scale: S_t for all T steps, (T, B, R), (T, R, R) or (T, B, R, R), or None;
    shift: o_t (T, K, B, R); currents: input currents (B, T, N) or None (step t uses column t − 1); decay a (0-dim),
    m (N, R), n (R, N), h (N,). Gradients reach all of them through the prior means F (T, K, B, R).
    """
    outputs = _ParticleChain.apply(setup, first_mean, scale, shift, currents, decay, m, n, h)
    return ChainOutput(*outputs)
