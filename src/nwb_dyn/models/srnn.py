"""Switching recurrent neural network (SRNN; Zhang & Saxena, NeurIPS 2024): the generative model.

    z_0 ~ Cat(π),                 z_t | z_{t-1}, h_{t-1}, x_t ~ Cat(softmax(W [h_{t-1}; x_t] + b + s·I)[z_{t-1}])
    h_0 | z_0 = k ~ N(μ0_k, σ0_k²),  h_t | h_{t-1}, z_t = k ~ N(tanh(A_k h_{t-1} + U_k x_t + c_k), σ_k²)
    y_t | h_t ~ N(g(h_t), σ_y²)  or  Poisson(softplus(g(h_t)))      (g linear or a small MLP)

All K state RNNs are evaluated at once (weights (K, P, P)) and, because the SRNN objective conditions on latents
sampled from the encoder, for all time steps at once: the model itself has no loop over time except in
``generate``. Noise scales are learned per state and dimension with a floor (the authors fixed them at 1e-2).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from nwb_dyn.models.initialisation import ObservationInit
from nwb_dyn.models.switching_transitions import SwitchingTransitions

EMISSIONS = ("gaussian", "poisson")
#: Log-probability of a transition that cannot happen (finite, so that log-space sums and their gradients stay finite).
FORBIDDEN_LOG_PROBABILITY = -1e9


class ChainPotentials(NamedTuple):
    """Inputs of forward–backward for the discrete chain given latents h and observations y.

    log_initial (B, K); log_transition (B, T, K, K), [b, t, i, j] = log p(z_t = j | z_{t-1} = i, h_{t-1}, x_t);
    log_likelihood (B, T, K) = log p(h_t | h_{t-1}, z_t = k) + log p(y_t | h_t).
    """

    log_initial: Tensor
    log_transition: Tensor
    log_likelihood: Tensor


class SrnnSample(NamedTuple):
    """A generated dataset: states (B, T) int64, latents (B, T, P), observations (B, T, D), means (B, T, D)
    (the emission mean: rates for Poisson)."""

    states: Tensor
    latents: Tensor
    observations: Tensor
    means: Tensor


def _gaussian_log_density(value: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Elementwise log N(value; mean, std²)."""
    return -0.5 * ((value - mean) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)


class SwitchingRNN(nn.Module):
    """Generative SRNN with K states, latent size P, D observed channels and U external inputs.

    Args:
        num_states: K.
        latent_dim: P.
        observation_dim: D.
        input_dim: U (0 for none); inputs drive both the state RNNs and the transitions.
        emission: "gaussian" (continuous signals) or "poisson" (spike counts).
        emission_hidden: hidden sizes of the emission MLP; empty for a linear (affine) emission as in the paper.
        min_std: floor of every learned noise std.
        stickiness_init: initial self-transition logit bonus.
    """

    def __init__(
        self,
        num_states: int,
        latent_dim: int,
        observation_dim: int,
        input_dim: int = 0,
        emission: str = "gaussian",
        emission_hidden: tuple[int, ...] = (),
        min_std: float = 1e-3,
        stickiness_init: float = 2.0,
    ) -> None:
        super().__init__()
        if emission not in EMISSIONS:
            raise ValueError(f"emission must be one of {EMISSIONS}, got {emission!r}")
        self.num_states = num_states
        self.latent_dim = latent_dim
        self.observation_dim = observation_dim
        self.input_dim = input_dim
        self.emission = emission
        self.min_std = min_std
        self.transitions = SwitchingTransitions(num_states, latent_dim, input_dim, stickiness_init)
        # each state starts near a slightly different contraction of the identity, so states are not symmetric
        eye = torch.eye(latent_dim).expand(num_states, -1, -1)
        self.recurrent_weight = nn.Parameter(
            0.9 * eye + 0.1 * torch.randn(num_states, latent_dim, latent_dim)
        )
        self.input_weight = nn.Parameter(0.1 * torch.randn(num_states, latent_dim, input_dim))
        self.recurrent_bias = nn.Parameter(0.1 * torch.randn(num_states, latent_dim))
        self.dynamics_std_raw = nn.Parameter(torch.full((num_states, latent_dim), _inverse_softplus(0.1)))
        self.initial_mean = nn.Parameter(torch.zeros(num_states, latent_dim))
        self.initial_std_raw = nn.Parameter(torch.full((num_states, latent_dim), _inverse_softplus(1.0)))
        sizes = (latent_dim, *emission_hidden, observation_dim)
        layers: list[nn.Module] = []
        for index, (size_in, size_out) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(size_in, size_out))
            if index < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.emission_map = nn.Sequential(*layers)
        self.observation_std_raw = nn.Parameter(torch.full((observation_dim,), _inverse_softplus(0.1)))

    @torch.no_grad()
    def initialise_from(self, found: ObservationInit) -> None:
        """Emission offsets and (for a linear emission) weights, the Gaussian observation noise and every state's
        initial latent distribution from statistics of the training data
        (:func:`nwb_dyn.models.initialisation.observation_init` with P = latent_dim)."""
        output_layer = self.emission_map[-1]
        output_layer.bias.copy_(found.offset)
        if len(self.emission_map) == 1:
            output_layer.weight.copy_(found.weight.T)
        if self.emission == "gaussian" and found.noise_variance is not None:
            self.observation_std_raw.copy_(
                _inverse_softplus_tensor(found.noise_variance.sqrt() - self.min_std)
            )
        self.initial_mean.copy_(found.initial_mean.expand_as(self.initial_mean))
        self.initial_std_raw.copy_(
            _inverse_softplus_tensor(found.initial_std - self.min_std).expand_as(self.initial_std_raw)
        )

    def dynamics_std(self) -> Tensor:
        """Per-state transition noise std (K, P)."""
        return nn.functional.softplus(self.dynamics_std_raw) + self.min_std

    def initial_std(self) -> Tensor:
        """Per-state std of h_0 (K, P)."""
        return nn.functional.softplus(self.initial_std_raw) + self.min_std

    def observation_std(self) -> Tensor:
        """Gaussian observation noise std (D,)."""
        return nn.functional.softplus(self.observation_std_raw) + self.min_std

    def dynamics_mean(self, latents: Tensor, next_inputs: Tensor | None = None) -> Tensor:
        """Mean of h_{t+1} under every state: tanh(A_k h_t + U_k x_{t+1} + c_k), (B, T, K, P) from h (B, T, P)."""
        preactivation = torch.einsum("kpq,btq->btkp", self.recurrent_weight, latents) + self.recurrent_bias
        if next_inputs is not None:
            preactivation = preactivation + torch.einsum("kpu,btu->btkp", self.input_weight, next_inputs)
        return torch.tanh(preactivation)

    def emission_mean(self, latents: Tensor) -> Tensor:
        """E[y_t | h_t] (B, T, D): the Gaussian mean, or the Poisson rate (counts per bin)."""
        output = self.emission_map(latents)
        return nn.functional.softplus(output) if self.emission == "poisson" else output

    def observation_log_likelihood(
        self, latents: Tensor, observations: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        """log p(y_t | h_t) summed over the observed channels (mask (B, T, D) is 1 where observed), (B, T)."""
        mean = self.emission_mean(latents)
        if self.emission == "poisson":
            rate = mean + 1e-6
            log_density = observations * torch.log(rate) - rate - torch.lgamma(observations + 1)
        else:
            log_density = _gaussian_log_density(observations, mean, self.observation_std())
        if mask is not None:
            log_density = log_density * mask
        return log_density.sum(dim=-1)

    def latent_log_likelihood(self, latents: Tensor, inputs: Tensor | None = None) -> Tensor:
        """log p(h_t | h_{t-1}, z_t = k), and log p(h_0 | z_0 = k) at t = 0: (B, T, K) from h (B, T, P)."""
        initial = _gaussian_log_density(latents[:, :1, None], self.initial_mean, self.initial_std()).sum(-1)
        next_inputs = None if inputs is None else inputs[:, 1:]
        predicted = self.dynamics_mean(latents[:, :-1], next_inputs)
        following = _gaussian_log_density(latents[:, 1:, None], predicted, self.dynamics_std()).sum(-1)
        return torch.cat([initial, following], dim=1)

    def chain_potentials(
        self,
        latents: Tensor,
        observations: Tensor,
        inputs: Tensor | None = None,
        mask: Tensor | None = None,
        in_window: Tensor | None = None,
    ) -> ChainPotentials:
        """Everything forward–backward needs, from h (B, T, P), y (B, T, D), optional x (B, T, U) and optional
        observation mask (B, T, D).

        ``in_window`` (B, T) bool marks the bins inside each window; after a window's last bin its latents score
        nothing and its state stays put (identity transitions), so a padded window's normaliser, marginals and
        Viterbi path over its bins are those of the window alone.
        """
        log_likelihood = self.latent_log_likelihood(latents, inputs)
        log_likelihood = log_likelihood + self.observation_log_likelihood(
            latents, observations, mask
        ).unsqueeze(-1)
        log_transition = self.transitions.log_transition(latents, inputs)
        if in_window is not None:
            log_likelihood = log_likelihood * in_window.unsqueeze(-1)
            stay = torch.eye(self.num_states, dtype=torch.bool, device=latents.device)
            frozen = torch.zeros_like(log_transition[0, 0]).masked_fill(~stay, FORBIDDEN_LOG_PROBABILITY)
            log_transition = torch.where(in_window[:, :, None, None], log_transition, frozen)
        return ChainPotentials(self.transitions.log_initial(latents.shape[0]), log_transition, log_likelihood)

    @torch.no_grad()
    def generate(
        self,
        num_trials: int,
        num_steps: int,
        inputs: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> SrnnSample:
        """Sample (states, latents, observations) from the prior; inputs (B, T, U) if the model has any."""
        device = self.recurrent_weight.device
        trial_index = torch.arange(num_trials, device=device)

        def gaussian(mean: Tensor, std: Tensor) -> Tensor:
            return mean + std * torch.randn(mean.shape, generator=generator, device=device)

        state = torch.multinomial(
            self.transitions.log_initial(num_trials).exp(), 1, generator=generator
        ).squeeze(-1)
        latent = gaussian(self.initial_mean[state], self.initial_std()[state])
        states, latents = [state], [latent]
        for t in range(1, num_steps):
            step_input = None if inputs is None else inputs[:, t : t + 1]
            log_transition = self.transitions.log_transition_from(latent[:, None], step_input)[:, 0]
            state = torch.multinomial(
                log_transition[trial_index, state].exp(), 1, generator=generator
            ).squeeze(-1)
            mean = self.dynamics_mean(latent[:, None], step_input)[trial_index, 0, state]
            latent = gaussian(mean, self.dynamics_std()[state])
            states.append(state)
            latents.append(latent)
        latent_path = torch.stack(latents, dim=1)
        means = self.emission_mean(latent_path)
        if self.emission == "poisson":
            observations = torch.poisson(means, generator=generator)
        else:
            observations = gaussian(means, self.observation_std())
        return SrnnSample(torch.stack(states, dim=1), latent_path, observations, means)


def _inverse_softplus(value: float) -> float:
    return math.log(math.expm1(value))


def _inverse_softplus_tensor(value: Tensor) -> Tensor:
    """softplus⁻¹ elementwise, for values floored at 1e-4 (so the result is finite)."""
    value = value.clamp_min(1e-4)
    return value + torch.log(-torch.expm1(-value))
