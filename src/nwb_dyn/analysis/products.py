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
class ModelProducts:
    """Posterior summaries and the model itself.

    latents: (B, T, R) posterior latents per window; latent_estimate names the estimate ("smoothed", ...).
    rates: (B, T, D) predicted mean observation per bin (expected counts per bin for spikes).
    states, state_probabilities: (B, T) int and (B, T, K) for switching models, else None.
    weights: parameter name → array (enough to rebuild the model); hyperparameters: what built it.
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
    metrics: dict[str, float] = field(default_factory=dict)
