"""`ModelProducts`: everything a fitted model yields for the results writer, as plain numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class GeneratedSamples:
    """Free-running samples from the fitted model.

    latents: (S, T, R); observations: (S, T, D); seed: the generator seed; conditioning: what they were conditioned on.
    """

    latents: np.ndarray
    observations: np.ndarray
    seed: int
    conditioning: str = "free-running from the learned initial-state distribution"


@dataclass
class FixedPointSet:
    """Fixed points of the fitted latent dynamics and their linear stability.

    location: (P, R) fixed points; stable: (P,) bool; eigenvalues: (P, R) complex eigenvalues of the Jacobian there.
    kind: "exact" (piecewise-linear enumeration) or "numeric" (search); eigenvalue_reading: "discrete" (the map's
    Jacobian, stable iff |λ| < 1) or "continuous" (the ODE it discretises, stable iff Re λ < 0).
    state: (P,) int discrete state owning each point (switching models) or None; region: (P, N) int8 activation
    slope of every unit at each point (names its linear region) or None. search: how the points were found (method,
    time budget, candidates examined, predicted exact time, elapsed time, reason; JSON-safe) or None.
    """

    location: np.ndarray
    stable: np.ndarray
    eigenvalues: np.ndarray
    kind: str = "exact"
    eigenvalue_reading: str = "discrete"
    state: np.ndarray | None = None
    region: np.ndarray | None = None
    search: dict[str, Any] | None = None

    @property
    def num_points(self) -> int:
        """P, the number of fixed points."""
        return int(self.location.shape[0])


@dataclass
class ModelProducts:
    """Posterior summaries and the model itself.

    latents: (B, T, R) posterior latents per window; latent_estimate names the estimate ("smoothed", ...).
    rates: (B, T, D) predicted mean observation per bin (expected counts per bin for spikes).
    states, state_probabilities: (B, T) int and (B, T, K) for switching models, else None.
    weights: parameter name → array (the model's ``state_dict``); hyperparameters: the model constructor's keyword
    arguments, so ``results.rebuild`` can make the model again. fixed_points: of the latent dynamics, or None.
    """

    family: str
    latents: np.ndarray
    latent_estimate: str
    rates: np.ndarray
    weights: dict[str, np.ndarray]
    hyperparameters: dict[str, Any]
    states: np.ndarray | None = None
    state_probabilities: np.ndarray | None = None
    samples: GeneratedSamples | None = None
    fixed_points: FixedPointSet | None = None
    metrics: dict[str, float] = field(default_factory=dict)
