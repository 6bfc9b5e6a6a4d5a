"""The Poisson log-likelihood of SMC particles as one fused autograd operation.

An SMC sweep evaluates log p(y_t | z_t) for K·B particles at every time step. Written with plain tensor operations
this is eight autograd nodes per step (link, shift, log, products, mask, sum), and at the sizes of spike-count
models (K·B·D of order 10⁴) their per-node overhead, not arithmetic, sets the cost. This Function computes the
value in one forward and the gradient with respect to the linear predictor η in closed form:

    ∂/∂η [y·log λ − λ] = (y/λ − 1)·σ(η)   for λ = softplus(η) + 1e-6,
                       = y − (λ − 1e-10)   for λ = exp(η) + 1e-10.
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
    def forward(ctx, observations, predictor, mask, link):  # type: ignore[override]
        rate = poisson_rate(predictor, link)
        # y·log λ − λ (K, B, D), written in place into one new buffer (fresh (K, B, D) buffers are what costs here).
        terms = torch.log(rate) if link == "softplus" else predictor.clone()
        terms.mul_(observations).sub_(rate)
        log_factorial = (mask * torch.lgamma(observations + 1.0)).sum(-1)  # (B,)
        ctx.link = link
        ctx.save_for_backward(observations, predictor, rate, mask)
        return terms.mul_(mask).sum(-1) - log_factorial

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        observations, predictor, rate, mask = ctx.saved_tensors
        if ctx.link == "softplus":
            slope = torch.div(observations, rate).sub_(1.0).mul_(torch.sigmoid(predictor))
        else:
            slope = torch.sub(observations, rate).add_(EXP_FLOOR)
        return None, slope.mul_(mask).mul_(grad.unsqueeze(-1)), None, None


def poisson_log_likelihood(
    observations: torch.Tensor, predictor: torch.Tensor, mask: torch.Tensor, link: str
) -> torch.Tensor:
    """Σ over observed channels of log Poisson(y | λ(η)), −log y! included.

    observations, mask: (B, D); predictor η: (K, B, D) (any leading dims broadcasting against them) → (K, B).
    Gradients reach ``predictor`` only (observations and mask are data).
    """
    return _PoissonLogLikelihood.apply(observations, predictor, mask, link)
