"""Posterior latents and rates of a fitted low-rank RNN, by SMC filtering and backward smoothing over every window."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from nwb_dyn.analysis.chunking import DEFAULT_MEMORY_BUDGET_BYTES, FLOAT32_BYTES, windows_per_chunk
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
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
) -> LowRankPosterior:
    """Filtering and smoothed posterior means and predicted rates for windows values, mask (B, T, D).

    Masked channels (held-out units) do not inform the posterior (nor the encoder), so their rates are predictions.
    inputs: (B, T, D_u) or None. Windows are processed in chunks whose per-particle arrays (the sweep's clouds,
    the smoothing weights and every particle's expected observations, (K, chunk, T, ·)) fit in
    ``memory_budget_bytes``; the results are written into (B, T, ·) float32 arrays as chunks finish.
    """
    generator = torch.Generator().manual_seed(seed)
    num_windows, num_bins, channels = values.shape
    per_window = FLOAT32_BYTES * num_particles * num_bins * (2 * channels + model.num_units + 4 * model.rank + 8)
    chunk_size = windows_per_chunk(per_window, memory_budget_bytes)
    smoothed = np.empty((num_windows, num_bins, model.rank), dtype=np.float32)
    filtering = np.empty((num_windows, num_bins, model.rank), dtype=np.float32)
    rates = np.empty((num_windows, num_bins, channels), dtype=np.float32)
    for start in range(0, num_windows, chunk_size):
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
        # weighted sums over the particle axis: einsum made these B·T tiny matrix products, several times slower
        smoothed[window] = (result.particles * weights.unsqueeze(-1)).sum(0).numpy()
        filtering[window] = result.filtering_mean.numpy()
        particle_rates = model.rates(result.particles, currents)  # (K, B, T, D)
        rates[window] = particle_rates.mul_(weights.unsqueeze(-1)).sum(0).numpy()
    return LowRankPosterior(smoothed, filtering, rates)
