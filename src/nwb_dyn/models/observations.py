"""Observation models p(y_t | z_t): affine readout from the latents, Poisson or Gaussian likelihood."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class AffineReadout(nn.Module):
    """η = z W + b with W (R, D) ~ N(0, 2/R) and b = 0 (algorithms.md §1.7)."""

    def __init__(self, latent_dim: int, num_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(latent_dim, num_channels) * math.sqrt(2.0 / latent_dim))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (..., R) → linear predictor (..., D)."""
        return latents @ self.weight + self.bias


class PoissonObservation(nn.Module):
    """y ~ Poisson(softplus(η)) per channel; used for spike counts."""

    likelihood = "poisson"

    def __init__(self, latent_dim: int, num_channels: int) -> None:
        super().__init__()
        self.readout = AffineReadout(latent_dim, num_channels)

    def rates(self, latents: torch.Tensor) -> torch.Tensor:
        """Expected counts per bin (..., D) for latents (..., R)."""
        return F.softplus(self.readout(latents)) + 1e-6

    def log_prob(self, observations: torch.Tensor, latents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Σ over observed channels of log Poisson(y | rate(z)), including −log y!.

        observations, mask: (B, D); latents: (K, B, R) particles → (K, B).
        """
        rate = self.rates(latents)
        log_p = observations * torch.log(rate) - rate - torch.lgamma(observations + 1.0)
        return (log_p * mask).sum(-1)

    def sample(self, latents: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Counts (..., D) drawn at latents (..., R)."""
        return torch.poisson(self.rates(latents), generator=generator)


class GaussianObservation(nn.Module):
    """y ~ N(η, diag(σ²)) with a learned per-channel variance; used for continuous signals."""

    likelihood = "gaussian"

    def __init__(self, latent_dim: int, num_channels: int, noise_std_init: float = 0.1) -> None:
        super().__init__()
        self.readout = AffineReadout(latent_dim, num_channels)
        self.log_variance = nn.Parameter(torch.full((num_channels,), 2 * math.log(noise_std_init)))

    def variance(self) -> torch.Tensor:
        """(D,) observation variances, clamped for numerical safety."""
        return self.log_variance.exp().clamp(1e-8, 100.0)

    def rates(self, latents: torch.Tensor) -> torch.Tensor:
        """Predicted mean (..., D)."""
        return self.readout(latents)

    def log_prob(self, observations: torch.Tensor, latents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Σ over observed channels of log N(y | η(z), σ²); observations, mask (B, D); latents (K, B, R) → (K, B)."""
        variance = self.variance()
        residual = observations - self.readout(latents)
        log_p = -0.5 * (residual**2 / variance + torch.log(2 * math.pi * variance))
        return (log_p * mask).sum(-1)

    def sample(self, latents: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Signals (..., D) drawn at latents (..., R)."""
        mean = self.readout(latents)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + noise * self.variance().sqrt()
