"""A switching Lorenz system: the attractor's two lobes are the discrete states (SRNN paper demo, algorithms.md §4.6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SwitchingLorenz:
    """Simulated trials.

    latents: (B, T, 3) standardised Lorenz trajectories; states: (B, T) int, 0 for the lobe with x < 0, 1 for x > 0;
    dt: integration step of the simulated system (in model time units).
    """

    latents: np.ndarray
    states: np.ndarray
    dt: float


def _lorenz_derivative(xyz: np.ndarray, sigma: float, rho: float, beta: float) -> np.ndarray:
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    return np.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z], axis=-1)


def simulate_switching_lorenz(
    num_trials: int = 16,
    num_steps: int = 200,
    dt: float = 0.01,
    substeps: int = 10,
    seed: int = 0,
    sigma: float = 10.0,
    rho: float = 28.0,
    beta: float = 8.0 / 3.0,
) -> SwitchingLorenz:
    """Integrate the Lorenz system (RK4) from random points on the attractor and label each step by its lobe.

    Each recorded step is ``substeps`` RK4 steps of ``dt / substeps``; trajectories are standardised with the
    SNLDS/rSLDS generator's constants (centre (−0.5, −0.5, 2)… scaled by 15) kept simple here as centre 0, scale 15.
    """
    rng = np.random.default_rng(seed)
    state = rng.normal(0.0, 5.0, size=(num_trials, 3)) + np.array([0.0, 0.0, 25.0])
    h = dt / substeps
    for _ in range(500):  # burn-in onto the attractor
        state = _rk4(state, h, sigma, rho, beta)
    path = np.empty((num_trials, num_steps, 3))
    for t in range(num_steps):
        for _ in range(substeps):
            state = _rk4(state, h, sigma, rho, beta)
        path[:, t] = state
    states = (path[..., 0] > 0).astype(np.int64)
    centred = (path - np.array([0.0, 0.0, 25.0])) / 15.0
    return SwitchingLorenz(latents=centred.astype(np.float32), states=states, dt=dt)


def _rk4(state: np.ndarray, h: float, sigma: float, rho: float, beta: float) -> np.ndarray:
    k1 = _lorenz_derivative(state, sigma, rho, beta)
    k2 = _lorenz_derivative(state + 0.5 * h * k1, sigma, rho, beta)
    k3 = _lorenz_derivative(state + 0.5 * h * k2, sigma, rho, beta)
    k4 = _lorenz_derivative(state + h * k3, sigma, rho, beta)
    return state + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
