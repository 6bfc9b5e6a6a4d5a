"""A Markov-switching linear dynamical system in 2-D: ground truth for state recovery (K states, any K)."""

from __future__ import annotations

import numpy as np


def simulate_switching_linear(
    num_states: int, num_trials: int, num_steps: int, seed: int, stay_probability: float = 0.98
) -> tuple[np.ndarray, np.ndarray]:
    """A Markov-switching linear system: latents (B, T, 2) centred and scaled to unit overall std, states (B, T).

    State k pulls the 2-D latent towards its own point c_k (on a circle) while rotating about it:
    x_{t+1} = c_k + 0.9·R(θ_k)(x_t − c_k) + ε, ε ~ N(0, 0.1²I), θ_k alternating ±0.3 rad; the state stays with
    probability ``stay_probability`` per step and otherwise jumps uniformly to another state.
    """
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(num_states) / num_states
    centres = 1.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    rotations = []
    for k in range(num_states):
        theta = 0.3 if k % 2 == 0 else -0.3
        rotations.append(0.9 * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]))
    states = np.zeros((num_trials, num_steps), dtype=np.int64)
    latents = np.zeros((num_trials, num_steps, 2))
    states[:, 0] = rng.integers(num_states, size=num_trials)
    latents[:, 0] = centres[states[:, 0]] + rng.normal(0, 0.3, size=(num_trials, 2))
    for t in range(1, num_steps):
        jump = rng.uniform(size=num_trials) > stay_probability
        other = (states[:, t - 1] + rng.integers(1, max(num_states, 2), size=num_trials)) % num_states
        states[:, t] = np.where(jump, other, states[:, t - 1])
        k = states[:, t]
        previous = latents[:, t - 1] - centres[k]
        latents[:, t] = centres[k] + np.einsum("bij,bj->bi", np.stack(rotations)[k], previous)
        latents[:, t] += rng.normal(0, 0.1, size=(num_trials, 2))
    latents = (latents - latents.mean(axis=(0, 1))) / latents.std()  # one scale: keeps the states' geometry
    return latents.astype(np.float32), states
