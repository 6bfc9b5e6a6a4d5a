"""The Poisson log-likelihood of SMC particles, readout included, as one fused autograd operation.

An SMC sweep evaluates log p(y_t | z_t) for K·B particles at every time step. Written with plain tensor operations
this is ten autograd nodes per step (readout product and offset, link, shift, log, products, mask, sum), and at the
sizes of spike-count models (K·B·D of order 10⁴) their per-node overhead, not arithmetic, sets the cost. This
Function computes the value in one forward pass and the gradients in closed form through the linear predictor
η = z·W + c:

    ∂/∂η [y·log λ − λ] = (y/λ − 1)·σ(η)   for λ = softplus(η) + 1e-6,
                       = y − (λ − 1e-10)   for λ = exp(η) + 1e-10,

then ∂/∂z = ∂/∂η·Wᵀ, ∂/∂W = zᵀ·∂/∂η and ∂/∂c = Σ ∂/∂η over the dimensions c was broadcast along.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

SOFTPLUS_FLOOR = 1e-6
EXP_FLOOR = 1e-10


def poisson_rate(predictor: torch.Tensor, link: str) -> torch.Tensor:
    """Expected counts λ = link(η) + floor, shaped like ``predictor``."""
    if link == "softplus":
        return F.softplus(predictor).add_(SOFTPLUS_FLOOR)
    return predictor.exp() + EXP_FLOOR  # not in place: exp's gradient reads its output


class _PoissonLogLikelihood(torch.autograd.Function):
    @staticmethod
    def forward(ctx, observations, latents, matrix, offset, mask, link):  # type: ignore[override]
        predictor = torch.matmul(latents, matrix).add_(offset)  # η (K, B, D)
        rate = poisson_rate(predictor, link)
        # y·log λ − λ (K, B, D), written in place into one new buffer (fresh (K, B, D) buffers are what costs here).
        terms = torch.log(rate) if link == "softplus" else predictor.clone()
        terms.mul_(observations).sub_(rate)
        log_factorial = (mask * torch.lgamma(observations + 1.0)).sum(-1)  # (B,)
        ctx.link = link
        ctx.save_for_backward(observations, latents, matrix, offset, predictor, rate, mask)
        return terms.mul_(mask).sum(-1) - log_factorial

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        observations, latents, matrix, offset, predictor, rate, mask = ctx.saved_tensors
        if ctx.link == "softplus":
            slope = torch.div(observations, rate).sub_(1.0).mul_(torch.sigmoid(predictor))
        else:
            slope = torch.sub(observations, rate).add_(EXP_FLOOR)
        grad_predictor = slope.mul_(mask).mul_(grad.unsqueeze(-1))  # (K, B, D)
        rank, channels = matrix.shape
        flat = grad_predictor.reshape(-1, channels)
        # W @ gᵀ and zᵀ @ g: the (rows, D) factor on the right is the fast layout for CPU BLAS.
        grad_latents = (matrix @ flat.T).T.reshape(latents.shape) if ctx.needs_input_grad[1] else None
        grad_matrix = latents.reshape(-1, rank).T @ flat if ctx.needs_input_grad[2] else None
        grad_offset = grad_predictor.sum_to_size(offset.shape) if ctx.needs_input_grad[3] else None
        return None, grad_latents, grad_matrix, grad_offset, None, None


def poisson_log_likelihood(
    observations: torch.Tensor,
    latents: torch.Tensor,
    matrix: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    link: str,
) -> torch.Tensor:
    """Σ over observed channels of log Poisson(y | λ(η)) with η = z·W + c, −log y! included.

    observations, mask: (B, D); latents z: (K, B, R); matrix W: (R, D); offset c: (B, D) or (D,) → (K, B).
    Gradients reach latents, matrix and offset (observations and mask are data).
    """
    return _PoissonLogLikelihood.apply(observations, latents, matrix, offset, mask, link)
