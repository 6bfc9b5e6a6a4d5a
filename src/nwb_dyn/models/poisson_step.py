"""The Poisson log-likelihood of SMC particles, readout included, as one autograd operation.

An SMC sweep evaluates log p(y_t | z_t) for K·B particles at every time step. Written with plain tensor operations
this is ten autograd nodes per step (readout product and offset, link, shift, log, products, mask, sum), and at the
sizes of spike-count models (K·B·D of order 10⁴) their overhead and the transcendentals (softplus, log, sigmoid)
set the cost. Here the value and its slope in the linear predictor η = z·W + c are computed together,

    ∂/∂η [y·log λ − λ] = (y/λ − 1)·σ(η)   for λ = softplus(η) + 1e-6,
                       = y − (λ − 1e-10)   for λ = exp(η) + 1e-10,

and :func:`linear_predictor_likelihood` turns (value, slope) into a differentiable value whose backward pass is
∂/∂z = slope·Wᵀ, ∂/∂W = zᵀ·slope and ∂/∂c = Σ slope over the dimensions c was broadcast along. An SMC sweep records
the (value, slope) its loop computes anyway and builds the differentiable log-likelihoods of all T steps from them
without evaluating a transcendental again (:mod:`nwb_dyn.inference.proposals`).
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


def log_factorials(observations: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ over observed channels of log y! (...,) for counts and mask (..., D): constant over a sweep."""
    return (mask * torch.lgamma(observations + 1.0)).sum(-1)


@torch.no_grad()
def poisson_value_and_slope(
    observations: torch.Tensor,
    latents: torch.Tensor,
    matrix: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    link: str,
    log_factorial: torch.Tensor,
    with_slope: bool = True,
    slope_out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log p(y | z) (..., K, B) and, when asked, its slope ∂/∂η (..., K, B, D), without autograd.

    observations (..., B, D); latents z (..., K, B, R); matrix W (R, D); offset c broadcastable to (..., K, B, D);
    mask like the observations, or None when every channel is observed; log_factorial (..., B) from
    :func:`log_factorials`; slope_out: where to write the slope (a sweep writes every step's into one buffer).
    """
    predictor = torch.matmul(latents, matrix).add_(offset)  # η
    rate = poisson_rate(predictor, link)
    # y·log λ − λ, written in place into one new buffer (fresh (K, B, D) buffers are what costs here).
    terms = torch.log(rate) if link == "softplus" else predictor.clone()
    terms.mul_(observations).sub_(rate)
    if mask is not None:
        terms.mul_(mask)
    value = terms.sum(-1).sub_(log_factorial)
    if not with_slope:
        return value, None
    if link == "softplus":
        slope = torch.div(observations, rate, out=slope_out).sub_(1.0).mul_(torch.sigmoid(predictor))
    else:
        slope = torch.sub(observations, rate, out=slope_out).add_(EXP_FLOOR)
    return value, slope if mask is None else slope.mul_(mask)


class _LinearPredictorLikelihood(torch.autograd.Function):
    @staticmethod
    def forward(ctx, latents, matrix, offset, value, slope):  # type: ignore[override]
        ctx.save_for_backward(latents, matrix, offset, slope)
        return value.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        latents, matrix, offset, slope = ctx.saved_tensors
        grad_predictor = slope * grad.unsqueeze(-1)  # (..., K, B, D)
        rank, channels = matrix.shape
        flat = grad_predictor.reshape(-1, channels)
        # W @ gᵀ and zᵀ @ g: the (rows, D) factor on the right is the fast layout for CPU BLAS.
        grad_latents = (matrix @ flat.T).T.reshape(latents.shape) if ctx.needs_input_grad[0] else None
        grad_matrix = latents.reshape(-1, rank).T @ flat if ctx.needs_input_grad[1] else None
        grad_offset = grad_predictor.sum_to_size(offset.shape) if ctx.needs_input_grad[2] else None
        return grad_latents, grad_matrix, grad_offset, None, None


def linear_predictor_likelihood(
    latents: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor, value: torch.Tensor, slope: torch.Tensor
) -> torch.Tensor:
    """``value`` (..., K, B) as a function of z (..., K, B, R), W (R, D) and c, through η = z·W + c, given its
    slope ∂value/∂η (..., K, B, D) computed with it. Gradients reach latents, matrix and offset."""
    return _LinearPredictorLikelihood.apply(latents, matrix, offset, value, slope)


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
    differentiable = torch.is_grad_enabled() and any(x.requires_grad for x in (latents, matrix, offset))
    value, slope = poisson_value_and_slope(
        observations, latents, matrix, offset, mask, link, log_factorials(observations, mask), differentiable
    )
    return linear_predictor_likelihood(latents, matrix, offset, value, slope) if differentiable else value
