"""k-step-ahead forecasts of a fitted low-rank RNN: filter with SMC, then roll the weighted particles forward.

The filter uses only the generative model, so a model rebuilt from a result file forecasts exactly as at fit time:
the optimal proposal for Gaussian observations (it reads y_t alone) and the bootstrap proposal otherwise. The
training proposal may be an encoder, but the encoder is not stored in results and an acausal one would read future
bins. Forecasts propagate every filtering particle (not the filtering mean through the mean map: φ is nonlinear, so
F(E[z]) ≠ E[F(z)]) with fresh transition noise and average the expected observation over particles and noise.

All random numbers are drawn in shapes that depend only on (B, T, K), never on the data, so a forecast made at t
is a deterministic function of y_{≤ t} and the seed: changing later bins cannot change it.
"""

from __future__ import annotations

import numpy as np
import torch

from nwb_dyn.analysis.chunking import DEFAULT_MEMORY_BUDGET_BYTES, FLOAT32_BYTES, windows_per_chunk
from nwb_dyn.analysis.forecast import DEFAULT_HORIZONS, Forecasts, Roller, forecast_in_chunks, scored_windows
from nwb_dyn.config import FitConfig
from nwb_dyn.extract import NeuralData
from nwb_dyn.inference.smc import run_smc
from nwb_dyn.models.lowrank import LowRankRNN

#: Fewest particles a forecast filters with, whatever the (often small) training particle count.
MIN_FORECAST_PARTICLES = 64


def lowrank_forecasts(model: torch.nn.Module, data: NeuralData, config: FitConfig) -> Forecasts:
    """Forecasts (horizons :data:`DEFAULT_HORIZONS`, and the forward tail) of the windows the fit's metrics score
    (:func:`~nwb_dyn.analysis.forecast.scored_windows`).

    The filter reads the observed held-in channels; every channel is forecast. Seeded by ``config.seed``.
    """
    if not isinstance(model, LowRankRNN):
        raise TypeError(f"lowrank_forecasts needs a LowRankRNN, got {type(model).__name__}")
    return forecast_windows(
        model,
        data.values,
        data.held_in_mask,
        max(config.lowrank.particles, MIN_FORECAST_PARTICLES),
        seed=config.seed,
        inputs=data.inputs,
        windows=scored_windows(data),
    )


@torch.no_grad()
def forecast_windows(
    model: LowRankRNN,
    values: np.ndarray,
    mask: np.ndarray,
    num_particles: int,
    seed: int,
    inputs: np.ndarray | None = None,
    horizons: tuple[int, ...] = DEFAULT_HORIZONS,
    windows: np.ndarray | None = None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
) -> Forecasts:
    """Forecasts for windows values, mask (B, T, D) (mask True = the filter may read the entry), inputs (B, T, D_u);
    only the windows ``windows`` (W,) (data order; None: all).

    Rolling all T origins of a chunk holds (K, chunk·T, ·) latents, unit currents and expected observations per
    step; chunks take as many windows as fit in ``memory_budget_bytes``.
    """
    model = model.eval()
    num_bins, channels = values.shape[1], values.shape[2]
    per_window = FLOAT32_BYTES * num_particles * num_bins * (3 * channels + model.num_units + 4 * model.rank)
    generator = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype

    def prepare(values_chunk: np.ndarray, mask_chunk: np.ndarray, inputs_chunk: np.ndarray | None) -> Roller:
        observations = torch.as_tensor(values_chunk, dtype=dtype)
        observed = torch.as_tensor(mask_chunk, dtype=dtype)
        inputs_tensor = None if inputs_chunk is None else torch.as_tensor(inputs_chunk, dtype=dtype)
        currents = model.input_current(inputs_tensor)
        particles, log_weights = filtering_particles(model, observations, observed, inputs_tensor, num_particles, generator)
        weights = torch.softmax(log_weights, dim=0)

        def roll(origins: slice, leads: tuple[int, ...]) -> list[np.ndarray]:
            predicted = roll_forward(
                model,
                particles[:, :, origins],
                weights[:, :, origins],
                currents,
                torch.arange(origins.start, origins.stop),
                leads,
                generator,
            )
            return [prediction.numpy() for prediction in predicted]

        return roll

    chunk_size = windows_per_chunk(per_window, memory_budget_bytes)
    return forecast_in_chunks(values, mask, inputs, prepare, horizons, chunk_size, windows)


def filtering_particles(
    model: LowRankRNN,
    observations: torch.Tensor,
    mask: torch.Tensor,
    inputs: torch.Tensor | None,
    num_particles: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted particles of p(z_t | y_{≤ t}) at every t: particles (K, B, T, R) and log-weights (K, B, T).

    observations, mask (B, T, D); inputs (B, T, D_u) or None. One :func:`nwb_dyn.inference.smc.run_smc` sweep
    with a proposal that reads y_t only (see the module doc): optimal for Gaussian data, else bootstrap.
    """
    proposal = "optimal" if model.likelihood.name == "gaussian" else "bootstrap"
    result = run_smc(model, observations, mask, num_particles, proposal=proposal, inputs=inputs, generator=generator,
                     keep_clouds=True)
    return result.particles, result.log_weights


def roll_forward(
    model: LowRankRNN,
    particles: torch.Tensor,
    weights: torch.Tensor,
    currents: torch.Tensor | None,
    origins: torch.Tensor,
    leads: tuple[int, ...],
    generator: torch.Generator,
) -> list[torch.Tensor]:
    """Expected observations ``leads`` (ascending, ≥ 1) bins after each origin, without observations.

    particles (K, B, O, R) and normalised weights (K, B, O) of the filtering posterior at origin bins ``origins``
    (O,); currents (B, T, N) or None (inputs are known ahead: they are not observations). The transition into
    bin s uses the input of bin s − 1 and the readout at s the input of s (the model's convention). Latents roll
    through every step up to the last lead (the same noise draws whichever leads are asked for); the expected
    observation is computed at the asked leads only. Returns one tensor (B, O, D) per lead; leads that run past the
    window reuse its last input and are never scored.
    """
    num_particles, batch, num_origins, rank = particles.shape
    latents = particles.reshape(num_particles, batch * num_origins, rank)
    flat_weights = weights.reshape(num_particles, batch * num_origins)
    noise_factor = model.transition_noise.cholesky()

    def current_at(bins: torch.Tensor) -> torch.Tensor | None:
        if currents is None:
            return None
        return currents[:, bins.clamp(max=currents.shape[1] - 1)].reshape(batch * num_origins, -1)

    wanted = set(leads)
    predictions = []
    for lead in range(1, max(leads, default=0) + 1):
        noise = torch.randn(latents.shape, generator=generator, dtype=latents.dtype)
        latents = model.transition_mean(latents, current_at(origins + lead - 1)) + noise @ noise_factor.T
        if lead in wanted:
            expected = model.rates(latents, current_at(origins + lead))  # (K, B·O, D)
            # a weighted sum over the leading axis: einsum made this B·O tiny matrix products, 10× slower
            average = (expected * flat_weights.unsqueeze(-1)).sum(0)
            predictions.append(average.reshape(batch, num_origins, -1))
    return predictions
