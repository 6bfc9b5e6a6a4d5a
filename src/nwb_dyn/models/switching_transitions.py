"""Discrete-state Markov switching whose transition probabilities depend on the continuous latent.

p(z_0 = k) = softmax(initial_logits)_k and
p(z_t = j | z_{t-1} = i, h_{t-1}, x_t) = softmax_j(W [h_{t-1}; x_t] + b + s·1[i = j])_{(i, j)},
the recurrent (rSLDS-style) transitions of Zhang & Saxena 2024. Unlike the authors' code the logits are not
squashed by tanh (which caps every transition probability, e.g. a self-transition of at most 0.65 for K = 5), and a
learned "stickiness" s on the diagonal lets states persist.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SwitchingTransitions(nn.Module):
    """Initial-state and latent-dependent transition log probabilities for K discrete states.

    Args:
        num_states: K.
        latent_dim: P, size of the continuous latent h.
        input_dim: U, size of the external input x (0 for none).
        stickiness_init: initial value of the diagonal logit bonus s (2.0 ≈ self-transition 0.79 for K = 2).
    """

    def __init__(
        self, num_states: int, latent_dim: int, input_dim: int = 0, stickiness_init: float = 2.0
    ) -> None:
        super().__init__()
        self.num_states = num_states
        self.input_dim = input_dim
        self.initial_logits = nn.Parameter(torch.zeros(num_states))
        self.logit_map = nn.Linear(latent_dim + input_dim, num_states * num_states)
        nn.init.normal_(self.logit_map.weight, std=0.1 / (latent_dim + input_dim) ** 0.5)
        nn.init.zeros_(self.logit_map.bias)
        self.stickiness = nn.Parameter(torch.tensor(float(stickiness_init)))

    def log_initial(self, batch_size: int) -> Tensor:
        """log p(z_0): (B, K)."""
        return torch.log_softmax(self.initial_logits, dim=-1).expand(batch_size, -1)

    def log_transition_from(self, latents: Tensor, inputs: Tensor | None = None) -> Tensor:
        """log p(z_{t+1} = j | z_t = i, h_t, x_{t+1}) for every t: (B, T, K, K) from latents h (B, T, P).

        ``inputs`` (B, T, U), if given, are the inputs at the *next* step x_{t+1}.
        """
        features = latents if inputs is None else torch.cat([latents, inputs], dim=-1)
        logits = self.logit_map(features).unflatten(-1, (self.num_states, self.num_states))
        logits = logits + self.stickiness * torch.eye(
            self.num_states, device=logits.device, dtype=logits.dtype
        )
        return torch.log_softmax(logits, dim=-1)

    def log_transition(self, latents: Tensor, inputs: Tensor | None = None) -> Tensor:
        """Time-aligned log transition matrices (B, T, K, K) for forward–backward.

        Entry t uses h_{t-1} (latents (B, T, P)) and x_t (inputs (B, T, U)); entry 0 has no predecessor, is
        never read by forward–backward and is filled with the uniform log(1/K).
        """
        next_inputs = None if inputs is None else inputs[:, 1:]
        from_previous = self.log_transition_from(latents[:, :-1], next_inputs)
        batch, _, states, _ = from_previous.shape
        unused_first = from_previous.new_full(
            (batch, 1, states, states), -torch.log(torch.tensor(float(states)))
        )
        return torch.cat([unused_first, from_previous], dim=1)
