"""Stochastic low-rank RNN in latent coordinates (Pals et al. 2024; algorithms.md §1.2–1.8).

    z_1     ~ N(μ_1, Σ_1),                      μ_1 = μ_0 + P_M(W_u·u_1)
    z_{t+1} = a·z_t + n·φ(m·z_t + W_u·u_t; h) + ε_t,   ε_t ~ N(0, Σ_z)
    y_t     ~ p(y | η_t),                        η_t = z_t·W + c_t   (affine or one-to-one readout)

with R latent dimensions (the rank), N units, decay a = exp(−exp(ã)) ∈ (0, 1), m (N, R), n (R, N) already scaled
by Δt/τ. Σ_z and Σ_1 are diagonal (σ² = exp(s)) or full (Cholesky L = tril(C, −1) + diag(exp(diag(C)/2))).
The transition to z_{t+1} uses the input u_t and the observation at t the input u_t (authors' convention, §1.2).
``LowRankRNN(**model.hyperparameters)`` rebuilds an identical architecture for a saved ``state_dict``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from nwb_dyn.errors import ConfigError
from nwb_dyn.models.activations import ACTIVATIONS
from nwb_dyn.models.initialisation import ObservationInit
from nwb_dyn.models.lowrank_step import fused_transition_mean
from nwb_dyn.models.observations import (
    LIKELIHOODS,
    READOUTS,
    AffineReadout,
    GaussianLikelihood,
    OneToOneReadout,
    PoissonLikelihood,
)

NOISE_COVARIANCES = ("diag", "full")
INITIAL_STATES = ("trainable", "zero")


class NoiseCovariance(nn.Module):
    """A learned Gaussian noise covariance, diagonal or full, initialised to std·I (algorithms.md §1.6)."""

    def __init__(self, rank: int, kind: str, std_init: float) -> None:
        super().__init__()
        if kind not in NOISE_COVARIANCES:
            raise ValueError(f"unknown noise covariance '{kind}'; expected one of {NOISE_COVARIANCES}")
        self.kind = kind
        log_variance = 2 * math.log(std_init)
        raw = torch.full((rank,), log_variance) if kind == "diag" else torch.eye(rank) * log_variance
        self.raw = nn.Parameter(raw)

    def cholesky(self) -> torch.Tensor:
        """(R, R) lower-triangular L with Σ = L·Lᵀ; variances clamped to [1e-8, 100] (std to [1e-4, 10])."""
        if self.kind == "diag":
            return torch.diag(self.raw.clamp(math.log(1e-8), math.log(100.0)).mul(0.5).exp())
        diagonal = torch.diagonal(self.raw).clamp(math.log(1e-8), math.log(100.0)).mul(0.5).exp()
        return torch.tril(self.raw, -1) + torch.diag(diagonal)

    @torch.no_grad()
    def set_std(self, std: torch.Tensor) -> None:
        """Make Σ = diag(std²) for std (R,) (off-diagonal terms of a full covariance become 0)."""
        log_variance = 2 * std.to(self.raw).log()
        self.raw.copy_(log_variance if self.kind == "diag" else torch.diag(log_variance))

    def covariance(self) -> torch.Tensor:
        """(R, R) Σ."""
        factor = self.cholesky()
        return factor @ factor.T

    def std(self) -> torch.Tensor:
        """(R,) marginal standard deviations √diag(Σ)."""
        return torch.diagonal(self.covariance()).sqrt()


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
        noise_covariance: str = "diag",
        readout: str = "affine",
        train_readout: bool = True,
        link: str = "softplus",
        observation_noise_std_init: float = 0.1,
        num_inputs: int = 0,
        initial_state: str = "trainable",
    ) -> None:
        super().__init__()
        self.hyperparameters: dict[str, Any] = {
            "rank": rank,
            "num_units": num_units,
            "num_channels": num_channels,
            "likelihood": likelihood,
            "activation": activation,
            "decay_init": decay_init,
            "transition_noise_std_init": transition_noise_std_init,
            "initial_noise_std_init": initial_noise_std_init,
            "noise_covariance": noise_covariance,
            "readout": readout,
            "train_readout": train_readout,
            "link": link,
            "observation_noise_std_init": observation_noise_std_init,
            "num_inputs": num_inputs,
            "initial_state": initial_state,
        }
        _check_choice(activation, ACTIVATIONS, "activation")
        _check_choice(likelihood, LIKELIHOODS, "likelihood")
        _check_choice(readout, READOUTS, "readout")
        _check_choice(initial_state, INITIAL_STATES, "initial_state")
        if readout == "one_to_one" and num_channels > num_units:
            raise ValueError(f"a one-to-one readout needs num_units ≥ num_channels, got {num_units} < {num_channels}")
        self.rank = rank
        self.num_units = num_units
        self.num_inputs = num_inputs
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
        self.initial_mean = nn.Parameter(torch.zeros(rank), requires_grad=initial_state == "trainable")
        self.initial_noise = NoiseCovariance(rank, noise_covariance, initial_noise_std_init)
        self.transition_noise = NoiseCovariance(rank, noise_covariance, transition_noise_std_init)
        if num_inputs:
            bound_u = 1.0 / math.sqrt(num_inputs)
            self.input_weights = nn.Parameter(torch.empty(num_units, num_inputs).uniform_(-bound_u, bound_u))
        self.readout: AffineReadout | OneToOneReadout = (
            AffineReadout(rank, num_channels, train_readout)
            if readout == "affine"
            else OneToOneReadout(num_channels, train_readout)
        )
        self.likelihood: GaussianLikelihood | PoissonLikelihood = (
            GaussianLikelihood(num_channels, observation_noise_std_init)
            if likelihood == "gaussian"
            else PoissonLikelihood(num_channels, link)
        )

    @torch.no_grad()
    def initialise_from(self, found: ObservationInit) -> None:
        """Readout offsets (and the affine readout's weights), the initial state and the Gaussian observation noise
        from statistics of the training data (:func:`nwb_dyn.models.initialisation.observation_init`, P = R)."""
        self.readout.bias.copy_(found.offset)
        if isinstance(self.readout, AffineReadout):
            self.readout.weight.copy_(found.weight)
        if self.initial_mean.requires_grad:
            self.initial_mean.copy_(found.initial_mean)
            self.initial_noise.set_std(found.initial_std)
        if isinstance(self.likelihood, GaussianLikelihood) and found.noise_variance is not None:
            self.likelihood.log_variance.copy_(found.noise_variance.log())

    @property
    def decay(self) -> torch.Tensor:
        """Scalar a ∈ (0, 1)."""
        return torch.exp(-torch.exp(self.decay_logit))

    def transition_std(self) -> torch.Tensor:
        """(R,) marginal standard deviations of the latent noise ε_t."""
        return self.transition_noise.std()

    def initial_std(self) -> torch.Tensor:
        """(R,) marginal standard deviations of z_1."""
        return self.initial_noise.std()

    def input_current(self, inputs: torch.Tensor | None) -> torch.Tensor | None:
        """W_u·u for inputs (..., D_u) → (..., N); None when the model or the data has no inputs."""
        if inputs is None or not self.num_inputs:
            return None
        return inputs @ self.input_weights.T

    def initial_mean_given(self, input_current: torch.Tensor | None) -> torch.Tensor:
        """μ_1 = μ_0 + (mᵀm)⁻¹mᵀ(W_u·u_1): (R,) without inputs, else (B, R) for input currents (B, N)."""
        if input_current is None:
            return self.initial_mean
        projection = torch.linalg.solve(self.m.T @ self.m, self.m.T)  # (R, N)
        return self.initial_mean + input_current @ projection.T

    def transition_mean(self, latents: torch.Tensor, input_current: torch.Tensor | None = None) -> torch.Tensor:
        """F(z) = a·z + n·φ(m·z + W_u·u; h) for particles (K, B, R) and input currents (B, N) → (K, B, R)."""
        current = None if input_current is None else input_current.unsqueeze(0)
        return fused_transition_mean(latents, current, self.decay, self.m, self.n, self.h, self.activation)

    def readout_matrix(self) -> torch.Tensor:
        """(R, D) matrix W of the linear predictor η = z·W + c."""
        return self.readout.matrix(self.m)

    def readout_offset(self, input_current: torch.Tensor | None) -> torch.Tensor:
        """Offset c of the linear predictor: (D,), or (..., D) for input currents (..., N)."""
        return self.readout.offset(input_current)

    def predictor(self, latents: torch.Tensor, input_current: torch.Tensor | None = None) -> torch.Tensor:
        """η = z·W + c for latents (..., B, R) and input currents (B, N) or None → (..., B, D)."""
        return latents @ self.readout_matrix() + self.readout_offset(input_current)

    def rates(self, latents: torch.Tensor, input_current: torch.Tensor | None = None) -> torch.Tensor:
        """Expected observation E[y | z] (..., D): expected counts per bin (Poisson) or the signal mean (Gaussian)."""
        return self.likelihood.mean(self.predictor(latents, input_current))

    @torch.no_grad()
    def generate(
        self,
        num_trials: int,
        num_steps: int,
        inputs: torch.Tensor | None = None,
        initial_latents: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples of the stochastic model: latents (B, T, R) and observations (B, T, D), noise included.

        inputs: (B, T, D_u) for input-conditioned generation, else free-running; initial_latents: (B, R) to start
        from (e.g. a posterior sample), else z_1 is drawn from its learned prior.
        """
        device, dtype = self.n.device, self.n.dtype
        currents = self.input_current(inputs)
        first = None if currents is None else currents[:, 0]
        if initial_latents is None:
            noise = torch.randn((num_trials, self.rank), generator=generator, device=device, dtype=dtype)
            latent = self.initial_mean_given(first) + noise @ self.initial_noise.cholesky().T
        else:
            latent = initial_latents.to(device)
        transition_factor = self.transition_noise.cholesky()
        path = [latent]
        for t in range(num_steps - 1):
            current = None if currents is None else currents[:, t]
            noise = torch.randn((num_trials, self.rank), generator=generator, device=device, dtype=dtype)
            latent = self.transition_mean(latent.unsqueeze(0), current)[0] + noise @ transition_factor.T
            path.append(latent)
        latents = torch.stack(path, dim=1)
        predictor = latents @ self.readout_matrix() + self.readout_offset(currents)
        return latents, self.likelihood.sample(predictor, generator=generator)

    def fixed_points(self, constant_input: np.ndarray | None = None):
        """Every fixed point of the noise-free latent map under a constant input u (D_u,), with its stability.

        Exact region-by-region enumeration (algorithms.md §2) through
        :func:`nwb_dyn.analysis.fixed_points.discrete_time_fixed_points`; only for piecewise-linear φ.
        """
        from nwb_dyn.analysis.fixed_points import discrete_time_fixed_points

        if self.activation not in ("relu", "clipped_relu"):
            raise ConfigError(
                f"exact fixed points need a piecewise-linear activation (relu or clipped_relu); this model uses "
                f"'{self.activation}'"
            )
        current = None
        if constant_input is not None:
            if not self.num_inputs:
                raise ConfigError("constant_input was given but this model was fitted without external inputs")
            current = self.input_weights.detach().cpu().numpy().astype(float) @ np.asarray(constant_input, float)
        as_numpy = lambda tensor: tensor.detach().cpu().numpy().astype(float)
        return discrete_time_fixed_points(
            float(self.decay.detach()), as_numpy(self.n), as_numpy(self.m), as_numpy(self.h), current, self.activation
        )


def _check_choice(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} '{value}'; expected one of {allowed}")
