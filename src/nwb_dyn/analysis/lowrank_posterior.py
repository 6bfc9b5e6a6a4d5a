"""Posterior latents and rates of a fitted low-rank RNN, by SMC filtering and backward smoothing over every window."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from nwb_dyn.inference.backward_smoother import backward_smoothing_weights
from nwb_dyn.inference.smc import run_smc
from nwb_dyn.models.encoders import CNNEncoder
from nwb_dyn.models.lowrank import LowRankRNN


class LowRankPosterior(NamedTuple):
    """Posterior summaries per window.

    smoothed_latents: (B, T, R) E[z_t | y_{1:T}] by forward filtering, backward smoothing (every step's particles
    reweighted, see :mod:`nwb_dyn.inference.backward_smoother`); filtering_latents: (B, T, R) E[z_t | y_{1:t}];
    rates: (B, T, D) E[y_t | y_{1:T}] under the same smoothing weights (expected counts per bin for spikes, the mean
    signal for Gaussian data).
    """

    smoothed_latents: np.ndarray
    filtering_latents: np.ndarray
    rates: np.ndarray


@torch.no_grad()
def lowrank_posterior(
    model: LowRankRNN,
    values: np.ndarray,
    mask: np.ndarray,
    num_particles: int,
    seed: int,
    proposal: str = "bootstrap",
    encoder: CNNEncoder | None = None,
    inputs: np.ndarray | None = None,
    chunk_size: int = 64,
) -> LowRankPosterior:
    """Filtering and smoothed posterior means and predicted rates for windows values, mask (B, T, D).

    Masked channels (held-out units) do not inform the posterior (nor the encoder), so their rates are predictions.
    inputs: (B, T, D_u) or None. Windows are processed in chunks of ``chunk_size`` to bound memory.
    """
    generator = torch.Generator().manual_seed(seed)
    smoothed, filtering, rates = [], [], []
    for start in range(0, len(values), chunk_size):
        window = slice(start, start + chunk_size)
        y = torch.as_tensor(values[window], dtype=torch.float32)
        m = torch.as_tensor(mask[window], dtype=torch.float32)
        u = None if inputs is None else torch.as_tensor(inputs[window], dtype=torch.float32)
        encoder_output = None if encoder is None else encoder(y * m)
        result = run_smc(
            model, y, m, num_particles, proposal=proposal, inputs=u, encoder_output=encoder_output,
            generator=generator, keep_clouds=True, keep_filtering=True,
        )
        currents = model.input_current(u)
        weights = backward_smoothing_weights(model, result.particles, result.log_weights, currents)  # (K, B, T)
        smoothed.append(torch.einsum("kbt,kbtr->btr", weights, result.particles).numpy())
        filtering.append(result.filtering_mean.numpy())
        particle_rates = model.rates(result.particles, currents)  # (K, B, T, D)
        rates.append(torch.einsum("kbt,kbtd->btd", weights, particle_rates).numpy())
    return LowRankPosterior(
        np.concatenate(smoothed).astype(np.float32),
        np.concatenate(filtering).astype(np.float32),
        np.concatenate(rates).astype(np.float32),
    )
