"""Observation models p(y_t | z_t) of the low-rank RNN (algorithms.md §1.7).

A readout maps latents to a linear predictor η_t = z_t·W + c_t that is linear in z_t (what the optimal proposal
needs), then a likelihood turns η into a distribution:

* :class:`AffineReadout`: η = z·W + b with W (R, D) — a free affine map from the latents;
* :class:`OneToOneReadout`: η_i = g_i·x_i + b_i on the currents x = m·z + W_u·u of the first D units — each
  recorded channel *is* an RNN unit (so W = m[:D]ᵀ·diag(g) and c = b + g·(W_u·u)[:D]);
* :class:`GaussianLikelihood`: y ~ N(η, diag(σ²)); :class:`PoissonLikelihood`: y ~ Poisson(link(η)) with link
  softplus (+1e-6) or exp (+1e-10); the per-unit scale g and offset b of the readout act inside the link.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nwb_dyn.models.poisson_step import poisson_log_likelihood, poisson_rate, poisson_value_and_slope

READOUTS = ("affine", "one_to_one")
LIKELIHOODS = ("gaussian", "poisson")
LINKS = ("softplus", "exp")


class AffineReadout(nn.Module):
    """η = z·W + b with W (R, D) ~ N(0, 2/R) and b = 0 (the authors' code init, algorithms.md §1.7)."""

    def __init__(self, rank: int, num_channels: int, trainable: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(rank, num_channels) * math.sqrt(2.0 / rank), requires_grad=trainable)
        self.bias = nn.Parameter(torch.zeros(num_channels), requires_grad=trainable)

    def matrix(self, m: torch.Tensor) -> torch.Tensor:
        """(R, D) readout matrix W (``m`` is unused: the affine readout is free of the RNN weights)."""
        return self.weight

    def offset(self, input_current: torch.Tensor | None) -> torch.Tensor:
        """(D,) offset c = b (inputs do not enter the affine readout)."""
        return self.bias


class OneToOneReadout(nn.Module):
    """η_i = g_i·x_i + b_i on the currents of unit i < D; gain g = 1, offset b = 0 initially."""

    def __init__(self, num_channels: int, trainable: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels), requires_grad=trainable)
        self.bias = nn.Parameter(torch.zeros(num_channels), requires_grad=trainable)

    def matrix(self, m: torch.Tensor) -> torch.Tensor:
        """(R, D) readout matrix mᵀ restricted to the first D units, scaled per unit by the gain."""
        return m[: self.weight.shape[0]].T * self.weight

    def offset(self, input_current: torch.Tensor | None) -> torch.Tensor:
        """(..., D) offset b + g·(W_u·u)[:D]; the input term carries the gain (fixes algorithms.md §1.18.8)."""
        if input_current is None:
            return self.bias
        return self.bias + self.weight * input_current[..., : self.weight.shape[0]]


class GaussianLikelihood(nn.Module):
    """y ~ N(η, diag(σ²)) with a learned per-channel variance (clamped to [1e-8, 100])."""

    name = "gaussian"

    def __init__(self, num_channels: int, noise_std_init: float = 0.1) -> None:
        super().__init__()
        self.log_variance = nn.Parameter(torch.full((num_channels,), 2 * math.log(noise_std_init)))

    def variance(self) -> torch.Tensor:
        """(D,) observation variances."""
        return self.log_variance.exp().clamp(1e-8, 100.0)

    def mean(self, predictor: torch.Tensor) -> torch.Tensor:
        """E[y | η] = η, (..., D)."""
        return predictor

    def log_prob(
        self, observations: torch.Tensor, latents: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Σ over observed channels of log N(y | η, σ²), η = z·W + c.

        observations, mask (B, D); latents z (K, B, R); matrix W (R, D); offset c (B, D) or (D,) → (K, B).
        """
        variance = self.variance()
        residual = observations - (latents @ matrix + offset)
        log_p = -0.5 * (residual * residual / variance + torch.log(2 * math.pi * variance))
        return (log_p * mask).sum(-1)

    def sample(self, predictor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Signals (..., D) drawn given η (..., D)."""
        noise = torch.randn(predictor.shape, generator=generator, dtype=predictor.dtype, device=predictor.device)
        return predictor + noise * self.variance().sqrt()


class PoissonLikelihood(nn.Module):
    """y ~ Poisson(link(η)) per channel (spike counts per bin); log-probabilities include −log y!."""

    name = "poisson"

    def __init__(self, num_channels: int, link: str = "softplus") -> None:
        super().__init__()
        if link not in LINKS:
            raise ValueError(f"unknown Poisson link '{link}'; expected one of {LINKS}")
        self.link = link

    def mean(self, predictor: torch.Tensor) -> torch.Tensor:
        """Expected counts per bin (..., D)."""
        return poisson_rate(predictor, self.link)

    def log_prob(
        self, observations: torch.Tensor, latents: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Σ over observed channels of log Poisson(y | link(η)), η = z·W + c (fused, see ``poisson_step``).

        observations, mask (B, D); latents z (K, B, R); matrix W (R, D); offset c (B, D) or (D,) → (K, B).
        """
        return poisson_log_likelihood(observations, latents, matrix, offset, mask, self.link)

    def value_and_slope(
        self, observations: torch.Tensor, latents: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor,
        mask: torch.Tensor | None, log_factorial: torch.Tensor, with_slope: bool, slope_out: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`log_prob` without autograd (mask None: all observed; log_factorial from ``log_factorials``), and
        its slope in η when asked (written into ``slope_out`` when given), for
        :func:`~nwb_dyn.models.poisson_step.linear_predictor_likelihood`."""
        return poisson_value_and_slope(
            observations, latents, matrix, offset, mask, self.link, log_factorial, with_slope, slope_out
        )

    def sample(self, predictor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Counts (..., D) drawn given η (..., D)."""
        return torch.poisson(self.mean(predictor), generator=generator)
