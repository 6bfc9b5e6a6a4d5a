"""The period estimator of free-running samples (teacher–student, issue 19): reads known oscillations, not noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nwb_dyn.simulate.lowrank_teacher import sampled_period_steps


def _noisy_oscillations(period: float, samples: int = 50, steps: int = 500, seed: int = 0) -> np.ndarray:
    """(samples, steps, 2) sine/cosine pairs of ``period`` steps, random phases, with a decaying start and noise."""
    rng = np.random.default_rng(seed)
    time = np.arange(steps)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, size=(samples, 1, 1))
    angle = 2 * np.pi * time / period + phase
    oscillation = np.concatenate([np.sin(angle), np.cos(angle)], axis=2)
    transient = 5.0 * np.exp(-time / 20.0)  # the approach from the initial state, dropped by the burn-in
    return oscillation + transient + 0.3 * rng.standard_normal(oscillation.shape)


@pytest.mark.parametrize("period", [50.0, 23.5, 64.0])
def test_period_of_noisy_oscillations(period: float) -> None:
    assert sampled_period_steps(_noisy_oscillations(period)) == pytest.approx(period, rel=0.02)


def test_noise_and_a_fixed_point_have_no_period() -> None:
    rng = np.random.default_rng(1)
    assert sampled_period_steps(rng.standard_normal((50, 500, 2))) != pytest.approx(50.0, rel=0.2)
    decay = np.exp(-np.arange(500) / 30.0)[None, :, None] * np.ones((10, 1, 2))
    assert math.isinf(sampled_period_steps(decay))


def test_samples_shorter_than_the_burn_in_are_refused() -> None:
    with pytest.raises(ValueError, match="burn-in"):
        sampled_period_steps(np.zeros((4, 100, 2)))


def test_the_period_of_many_samples_pools_every_chunk_equally() -> None:
    samples = _noisy_oscillations(40.0, samples=1100)  # three FFT chunks, the last a short one
    signal = samples[:, 100:] - samples[:, 100:].mean(axis=1, keepdims=True)
    lags = np.arange(250)
    direct = np.array([(signal[:, : 400 - lag] * signal[:, lag:]).sum(axis=1).mean() for lag in lags])
    negative = int(np.flatnonzero(direct < 0)[0])
    peak = negative + int(np.argmax(direct[negative:]))  # the first peak after the autocorrelation turns negative
    before, at, after = direct[peak - 1 : peak + 2]
    assert sampled_period_steps(samples) == pytest.approx(peak + 0.5 * (before - after) / (before - 2 * at + after))
