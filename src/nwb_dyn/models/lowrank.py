"""Stochastic low-rank RNN in latent coordinates (Pals et al. 2024; algorithms.md §1.2–1.8).

    z_1     ~ N(μ_0, diag(σ_1²))
    z_{t+1} = a·z_t + n·φ(m·z_t; h) + ε_t,   ε_t ~ N(0, diag(σ_z²))
    y_t     ~ p(y | z_t)                      (Poisson or Gaussian, affine readout)

with R latent dimensions (the rank), N units, decay a = exp(−exp(ã)) ∈ (0, 1), m (N, R), n (R, N) already scaled.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nwb_dyn.models.activations import apply_activation
from nwb_dyn.models.observations import GaussianObservation, PoissonObservation


class LowRankRNN(nn.Module):
    """The generative model; inference lives in :mod:`nwb_dyn.inference.smc`."""

    def __init__(
        self,
        rank: int,
        num_units: int,
        num_channels: int,
        likelihood: str = "poisson",
        activation: str = "clipped_relu",
        decay_init: float = 0.9,
        transition_noise_std_init: float = 0.1,
        initial_noise_std_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.rank = rank
        self.num_units = num_units
        self.activation = activation
        bound_n = 1.0 / math.sqrt(num_units)
        bound_m = 1.0 / math.sqrt(rank)
        self.n = nn.Parameter(torch.empty(rank, num_units).uniform_(-bound_n, bound_n))
        self.m = nn.Parameter(torch.empty(num_units, rank).uniform_(-bound_m, bound_m))
        bias = torch.empty(num_units).uniform_(-bound_n, bound_n) if activation == "clipped_relu" else torch.zeros(
            num_units
        )
        self.h = nn.Parameter(bias)
        self.decay_logit = nn.Parameter(torch.tensor(math.log(-math.log(decay_init))))
        self.initial_mean = nn.Parameter(torch.zeros(rank))
        self.log_initial_variance = nn.Parameter(torch.full((rank,), 2 * math.log(initial_noise_std_init)))
        self.log_transition_variance = nn.Parameter(torch.full((rank,), 2 * math.log(transition_noise_std_init)))
        if likelihood == "poisson":
            self.observation: PoissonObservation | GaussianObservation = PoissonObservation(rank, num_channels)
        elif likelihood == "gaussian":
            self.observation = GaussianObservation(rank, num_channels)
        else:
            raise ValueError(f"unknown likelihood '{likelihood}'")

    @property
    def decay(self) -> torch.Tensor:
        """Scalar a ∈ (0, 1)."""
        return torch.exp(-torch.exp(self.decay_logit))

    def transition_std(self) -> torch.Tensor:
        """(R,) standard deviations of the latent noise ε_t."""
        return self.log_transition_variance.exp().clamp(1e-8, 100.0).sqrt()

    def initial_std(self) -> torch.Tensor:
        """(R,) standard deviations of z_1."""
        return self.log_initial_variance.exp().clamp(1e-8, 100.0).sqrt()

    def transition_mean(self, latents: torch.Tensor) -> torch.Tensor:
        """F(z) = a·z + n·φ(m·z; h) for latents (..., R) → (..., R)."""
        rates = apply_activation(self.activation, latents @ self.m.T, self.h)
        return self.decay * latents + rates @ self.n.T

    @torch.no_grad()
    def generate(
        self, num_trials: int, num_steps: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Free-running samples: latents (B, T, R) and observations (B, T, D)."""
        device = self.n.device
        noise = lambda shape: torch.randn(shape, generator=generator, device=device)  # noqa: E731
        latent = self.initial_mean + self.initial_std() * noise((num_trials, self.rank))
        path = [latent]
        for _ in range(num_steps - 1):
            latent = self.transition_mean(latent) + self.transition_std() * noise((num_trials, self.rank))
            path.append(latent)
        latents = torch.stack(path, dim=1)
        return latents, self.observation.sample(latents, generator=generator)
