"""One step of the encoder proposal (algorithms.md §1.10c) as one fused autograd operation.

Per step and particle the proposal draws z = s ⊙ F + o (s = λ_z/(λ_z + λ_e), o = the encoder's share of the mean
plus the scaled noise, both prepared for the whole sweep) and weighs it by log N(z; F, σ_z²) − log r(z) =
c − ½ Σ_r λ_z,r (z − F)_r². As plain tensor operations this is five autograd nodes per step on (K, B, R) tensors,
whose overhead exceeds their arithmetic; this Function does the same in one node with the gradients in closed form
(d = z − F, g_z and g_w the incoming gradients of z and of the log-ratio):

    ∂/∂o = g_z − g_w λ_z d,   ∂/∂F = s ⊙ ∂/∂o + g_w λ_z d,   ∂/∂s = Σ_k F ⊙ ∂/∂o,
    ∂/∂c = g_w,               ∂/∂λ_z = −½ Σ_{k,b} g_w d².
"""

from __future__ import annotations

import torch


class _EncoderProposalStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, prior_mean, share, shift, constant, precision):  # type: ignore[override]
        particles = torch.addcmul(shift, share, prior_mean)
        deviation = particles - prior_mean
        log_ratio = torch.sub(constant, deviation.square() @ precision, alpha=0.5)
        ctx.save_for_backward(prior_mean, share, shift, constant, precision, deviation)
        return particles, log_ratio

    @staticmethod
    def backward(ctx, grad_particles, grad_log_ratio):  # type: ignore[override]
        prior_mean, share, shift, constant, precision, deviation = ctx.saved_tensors
        pull = deviation * precision * grad_log_ratio.unsqueeze(-1)  # g_w λ_z d (K, B, R)
        grad_shift = -pull if grad_particles is None else grad_particles - pull
        grad_prior = (share * grad_shift + pull).sum_to_size(prior_mean.shape)
        grad_share = (prior_mean * grad_shift).sum_to_size(share.shape)
        grad_precision = -0.5 * (deviation.square() * grad_log_ratio.unsqueeze(-1)).sum_to_size(precision.shape)
        grad_constant = grad_log_ratio.sum_to_size(constant.shape)
        return grad_prior, grad_share, grad_shift.sum_to_size(shift.shape), grad_constant, grad_precision


def encoder_proposal_step(
    prior_mean: torch.Tensor,
    share: torch.Tensor,
    shift: torch.Tensor,
    constant: torch.Tensor,
    precision: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Particles z = s ⊙ F + o and their log-ratios c − ½ Σ λ_z (z − F)² of one step.

    prior_mean F: (K, B, R) or (B, R); share s: (B, R); shift o: (K, B, R); constant c: (K, B); precision λ_z: (R,).
    Returns particles (K, B, R) and log-ratios (K, B); gradients reach every input.
    """
    return _EncoderProposalStep.apply(prior_mean, share, shift, constant, precision)
