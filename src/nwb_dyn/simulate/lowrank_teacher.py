"""The published teacher RNNs of Pals et al. 2024 as :class:`LowRankRNN` models, and teacher–student diagnostics.

The shared teacher files (``../shared/data/teacher_rnns``) step ``x_{t+1} = (1 − α) x_t + α (m n / N) relu(x_t + b)``
with α = 0.1; in latent coordinates that is our model with decay a = 1 − α, n_model = α n / N, h = −b and ReLU
(algorithms.md §2.6). Observations are the currents x = m z of every unit (one-to-one readout, gain 1, offset 0)
plus Gaussian noise, or Poisson counts with rate softplus(4·x − 3).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from nwb_dyn.models.lowrank import LowRankRNN

TEACHER_ALPHA = 0.1


def load_teacher(
    path: str | Path,
    likelihood: str = "gaussian",
    latent_noise_std: float = 0.2,
    observation_noise_std: float = 0.1,
    initial_std: float = 2.0,
) -> LowRankRNN:
    """A teacher file as a LowRankRNN with isotropic latent noise (std ``latent_noise_std``, paper: Σ_z = 0.04·I).

    Gaussian teachers read out the currents with noise std ``observation_noise_std`` (paper: Σ_y = 0.01·I); the
    Poisson teacher reads out softplus(4·x − 3) (gain 4, offset −3 inside the softplus link). The initial state is
    N(0, initial_std²·I), like the authors' random-radius, random-phase starts.
    """
    arrays = np.load(path)
    m, n, bias = arrays["m"], arrays["n"], arrays["b_rec"]
    units = m.shape[0]
    model = LowRankRNN(
        rank=m.shape[1],
        num_units=units,
        num_channels=units,
        likelihood=likelihood,
        activation="relu",
        decay_init=1 - TEACHER_ALPHA,
        transition_noise_std_init=latent_noise_std,
        initial_noise_std_init=initial_std,
        noise_covariance="diag",
        readout="one_to_one",
        observation_noise_std_init=observation_noise_std,
    )
    with torch.no_grad():
        model.m.copy_(torch.as_tensor(m, dtype=torch.float32))
        model.n.copy_(torch.as_tensor(TEACHER_ALPHA * n / units, dtype=torch.float32))
        model.h.copy_(torch.as_tensor(-bias, dtype=torch.float32))
        if likelihood == "poisson":
            model.readout.weight.fill_(4.0)
            model.readout.bias.fill_(-3.0)
    return model


def unit_space_noise_std(model: LowRankRNN) -> float:
    """√(mean of the R non-zero eigenvalues of m Σ_z mᵀ): the latent noise's size as seen by the units.

    Unlike Σ_z itself this does not depend on the (arbitrary) basis of the latent space, so teacher and student
    compare directly.
    """
    with torch.no_grad():
        covariance = model.m.double() @ model.transition_noise.covariance().double() @ model.m.double().T
        eigenvalues = torch.linalg.eigvalsh(covariance)[-model.rank :]
    return float(eigenvalues.mean().sqrt())


def oscillation_frequency(model: LowRankRNN, steps: int = 2000, burn_in: int = 500) -> float:
    """Dominant frequency (cycles per step) of the noise-free latent dynamics from a generic start.

    The deterministic map z ↦ F(z) is iterated; the currents' first principal component after the burn-in is
    Fourier-transformed and the peak located (0 if the dynamics settle to a fixed point, NaN if they diverge).
    """
    with torch.no_grad():
        latent = torch.full((1, 1, model.rank), 1.0)
        path = []
        for _ in range(steps):
            latent = model.transition_mean(latent)
            path.append(latent[0, 0].clone())
        currents = (torch.stack(path[burn_in:]) @ model.m.T).double().numpy()
    if not np.all(np.isfinite(currents)):
        return math.nan  # the dynamics diverge
    currents = currents - currents.mean(0)
    if np.abs(currents).max() < 1e-6:
        return 0.0
    _, _, axes = np.linalg.svd(currents, full_matrices=False)
    trace = currents @ axes[0]
    power = np.abs(np.fft.rfft(trace * np.hanning(len(trace)))) ** 2
    frequencies = np.fft.rfftfreq(len(trace))
    return float(frequencies[1:][np.argmax(power[1:])])


#: Free-running samples for :func:`generated_period_steps`: count, length in steps, and the start dropped. The count
#: sets the estimator's precision: on the Gaussian teacher (period ≈ 64 steps) 200 samples scatter by 1.9 % (sd over
#: 12 draws), as much as the 5 % test it serves allows; 4000 scatter by 0.6 %.
PERIOD_SAMPLES, PERIOD_SAMPLE_STEPS, PERIOD_BURN_IN = 4000, 500, 100
#: Samples per FFT in :func:`sampled_period_steps`, bounding its memory (≈ 130 MB for 20 channels of 400 steps).
_AUTOCORRELATION_CHUNK = 500


def sampled_period_steps(samples: np.ndarray, burn_in: int = PERIOD_BURN_IN, max_lag: int = 250) -> float:
    """Period (steps) of free-running samples (B, T, D): the lag of their autocorrelation's first peak after it turns
    negative (inf when there is no such peak: samples that do not oscillate).

    The first ``burn_in`` steps (the approach from the initial state) are dropped and each sample's mean removed;
    the autocorrelation is averaged over samples and channels and its peak refined by a parabola through three lags.
    Samples need ``burn_in`` + a few periods of steps: the period of a 75-step sample that starts from the initial
    state mixes the transient with the oscillation.
    """
    if samples.shape[1] - burn_in < 8:
        raise ValueError(f"samples of {samples.shape[1]} steps leave fewer than 8 after a burn-in of {burn_in}")
    steps = samples.shape[1] - burn_in
    max_lag = min(max_lag, steps)
    total = np.zeros(max_lag)
    for start in range(0, len(samples), _AUTOCORRELATION_CHUNK):
        signal = np.asarray(samples[start : start + _AUTOCORRELATION_CHUNK, burn_in:], dtype=np.float64)
        signal = signal - signal.mean(axis=1, keepdims=True)
        spectrum = np.abs(np.fft.rfft(signal, n=2 * steps, axis=1)) ** 2
        total += np.fft.irfft(spectrum, axis=1)[:, :max_lag].sum(axis=(0, 2))
    autocorrelation = total / (len(samples) * samples.shape[2])
    negative = np.flatnonzero(autocorrelation < 0)
    if not len(negative):
        return math.inf
    peak = negative[0] + int(np.argmax(autocorrelation[negative[0] :]))
    if peak == negative[0] or peak == max_lag - 1:
        return math.inf
    before, at, after = autocorrelation[peak - 1 : peak + 2]
    return float(peak + 0.5 * (before - after) / (before - 2 * at + after))


def generated_period_steps(model: LowRankRNN, seed: int) -> float:
    """:func:`sampled_period_steps` of :data:`PERIOD_SAMPLES` samples of :data:`PERIOD_SAMPLE_STEPS` steps that
    ``model`` generates (with its latent and observation noise) from generator seed ``seed``."""
    with torch.no_grad():
        _, samples = model.generate(PERIOD_SAMPLES, PERIOD_SAMPLE_STEPS, generator=torch.Generator().manual_seed(seed))
    return sampled_period_steps(samples.numpy())


def teacher_period_steps(model: LowRankRNN) -> float:
    """Oscillation period in time steps (inf for a fixed point)."""
    frequency = oscillation_frequency(model)
    return math.inf if frequency == 0 else 1.0 / frequency
