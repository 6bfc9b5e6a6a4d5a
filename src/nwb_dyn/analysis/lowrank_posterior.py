"""Posterior latents and rates of a fitted low-rank RNN, by SMC smoothing over every window."""

from __future__ import annotations

import numpy as np
import torch

from nwb_dyn.inference.smc import run_smc
from nwb_dyn.models.lowrank import LowRankRNN


@torch.no_grad()
def lowrank_posterior(
    model: LowRankRNN,
    values: np.ndarray,
    mask: np.ndarray,
    num_particles: int,
    seed: int,
    chunk_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed posterior mean latents (B, T, R) and predicted rates (B, T, D).

    values, mask: (B, T, D); masked channels (held-out units) do not inform the posterior, so their rates are
    predictions. The genealogy of the final particles gives the smoothed paths; rates average the observation
    mean over those weighted paths. Windows are processed in chunks to bound memory.
    """
    generator = torch.Generator().manual_seed(seed)
    latents, rates = [], []
    for start in range(0, len(values), chunk_size):
        y = torch.as_tensor(values[start : start + chunk_size], dtype=torch.float32)
        m = torch.as_tensor(mask[start : start + chunk_size], dtype=torch.float32)
        result = run_smc(model, y, m, num_particles, generator=generator, keep_paths=True)
        weights = torch.softmax(result.final_log_weights, dim=0)  # (K, B)
        latents.append(result.smoothed_mean().numpy())
        path_rates = model.observation.rates(result.smoothed_paths)  # (K, B, T, D)
        rates.append(torch.einsum("kb,kbtd->btd", weights, path_rates).numpy())
    return np.concatenate(latents).astype(np.float32), np.concatenate(rates).astype(np.float32)
