"""k-step-ahead forecasts of a fitted switching RNN by a causal particle filter over (z_t, h_t).

The SRNN's inference network is bidirectional (it reads the whole window) and is not stored in result files, so it
cannot give a filtering posterior. Instead a bootstrap particle filter runs the generative model itself: each particle
carries a discrete state z and a latent h; z_t is drawn from p(z_t | z_{t−1}, h_{t−1}, x_t), h_t from the chosen
state's RNN with its noise, and the particle is weighted by p(y_t | h_t) on the observed channels. The approximation
is Monte Carlo only (no encoder, no Gaussian assumption); with very small emission noise the bootstrap weights
degenerate and forecasts get noisier, which more particles (:data:`SRNN_FORECAST_PARTICLES`) counter. Forecasts roll
every weighted particle forward through the same generative model (states and latents sampled) and average the
emission mean. Random numbers are drawn in data-independent shapes, and states are sampled by inverse CDF from
pre-drawn uniforms, so a forecast made at t depends on y_{≤ t} and the seed only.
"""

from __future__ import annotations

import numpy as np
import torch

from nwb_dyn.analysis.chunking import DEFAULT_MEMORY_BUDGET_BYTES, FLOAT32_BYTES, windows_per_chunk
from nwb_dyn.analysis.forecast import DEFAULT_HORIZONS, Forecasts, Roller, forecast_in_chunks, scored_windows
from nwb_dyn.config import FitConfig
from nwb_dyn.extract import NeuralData
from nwb_dyn.inference.resampling import systematic_resample
from nwb_dyn.models.srnn import SwitchingRNN

#: Particles of the forecast filter (the SRNN trains without particles, so there is no training count to reuse).
SRNN_FORECAST_PARTICLES = 256


def srnn_forecasts(model: torch.nn.Module, data: NeuralData, config: FitConfig) -> Forecasts:
    """Forecasts (horizons :data:`DEFAULT_HORIZONS`, and the forward tail) of the windows the fit's metrics score
    (:func:`~nwb_dyn.analysis.forecast.scored_windows`).

    The filter reads the observed held-in channels; every channel is forecast. Seeded by ``config.seed``.
    """
    if not isinstance(model, SwitchingRNN):
        raise TypeError(f"srnn_forecasts needs a SwitchingRNN, got {type(model).__name__}")
    return forecast_windows(
        model,
        data.values,
        data.held_in_mask,
        SRNN_FORECAST_PARTICLES,
        seed=config.seed,
        inputs=data.inputs if model.input_dim else None,
        windows=scored_windows(data),
    )


@torch.no_grad()
def forecast_windows(
    model: SwitchingRNN,
    values: np.ndarray,
    mask: np.ndarray,
    num_particles: int,
    seed: int,
    inputs: np.ndarray | None = None,
    horizons: tuple[int, ...] = DEFAULT_HORIZONS,
    windows: np.ndarray | None = None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
) -> Forecasts:
    """Forecasts for windows values, mask (B, T, D) (mask True = the filter may read the entry), inputs (B, T, U);
    only the windows ``windows`` (W,) (data order; None: all), in chunks that fit ``memory_budget_bytes``."""
    model = model.eval()
    num_bins, channels = values.shape[1], values.shape[2]
    per_state = model.num_states * (model.num_states + model.latent_dim)
    per_window = FLOAT32_BYTES * num_particles * num_bins * (3 * channels + per_state + 4 * model.latent_dim + 4)
    generator = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype

    def prepare(values_chunk: np.ndarray, mask_chunk: np.ndarray, inputs_chunk: np.ndarray | None) -> Roller:
        observations = torch.as_tensor(values_chunk, dtype=dtype)
        observed = torch.as_tensor(mask_chunk, dtype=dtype)
        step_inputs = None if inputs_chunk is None else torch.as_tensor(inputs_chunk, dtype=dtype)
        states, latents, log_weights = filtering_particles(
            model, observations, observed, step_inputs, num_particles, generator
        )
        weights = torch.softmax(log_weights, dim=0)

        def roll(origins: slice, leads: tuple[int, ...]) -> list[np.ndarray]:
            predicted = roll_forward(
                model,
                states[:, :, origins],
                latents[:, :, origins],
                weights[:, :, origins],
                step_inputs,
                torch.arange(origins.start, origins.stop),
                leads,
                generator,
            )
            return [prediction.numpy() for prediction in predicted]

        return roll

    chunk_size = windows_per_chunk(per_window, memory_budget_bytes)
    return forecast_in_chunks(values, mask, inputs, prepare, horizons, chunk_size, windows)


def filtering_particles(
    model: SwitchingRNN,
    observations: torch.Tensor,
    mask: torch.Tensor,
    inputs: torch.Tensor | None,
    num_particles: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted particles of p(z_t, h_t | y_{≤ t}) at every t.

    observations, mask (B, T, D); inputs (B, T, U) or None. Returns states (K, B, T) int64, latents (K, B, T, P)
    and log-weights (K, B, T). Systematic resampling before every step.
    """
    batch, steps, _ = observations.shape
    dtype = observations.dtype
    uniforms = torch.rand((steps, num_particles, batch), generator=generator, dtype=dtype)
    noise = torch.randn((steps, num_particles, batch, model.latent_dim), generator=generator, dtype=dtype)
    offsets = torch.rand((steps, batch), generator=generator, dtype=torch.float64)
    initial_probabilities = model.transitions.log_initial(batch).exp().expand(num_particles, -1, -1)
    state = _sample_categorical(initial_probabilities, uniforms[0])
    latent = model.initial_mean[state] + model.initial_std()[state] * noise[0]
    log_weight = model.observation_log_likelihood(latent, observations[:, 0], mask[:, 0])
    states, latents, log_weights = [state], [latent], [log_weight]
    for t in range(1, steps):
        ancestors = systematic_resample(log_weight, offsets=offsets[t])
        state = torch.gather(state, 0, ancestors)
        latent = torch.gather(latent, 0, ancestors.unsqueeze(-1).expand(-1, -1, model.latent_dim))
        step_input = None if inputs is None else inputs[:, t].expand(num_particles, -1, -1)
        state, latent = _step(model, state, latent, step_input, uniforms[t], noise[t])
        log_weight = model.observation_log_likelihood(latent, observations[:, t], mask[:, t])
        states.append(state)
        latents.append(latent)
        log_weights.append(log_weight)
    return torch.stack(states, dim=2), torch.stack(latents, dim=2), torch.stack(log_weights, dim=2)


def roll_forward(
    model: SwitchingRNN,
    states: torch.Tensor,
    latents: torch.Tensor,
    weights: torch.Tensor,
    inputs: torch.Tensor | None,
    origins: torch.Tensor,
    leads: tuple[int, ...],
    generator: torch.Generator,
) -> list[torch.Tensor]:
    """Expected observations ``leads`` (ascending, ≥ 1) bins after each origin, sampling states and latents without
    observations.

    states (K, B, O), latents (K, B, O, P) and normalised weights (K, B, O) of the filtering posterior at origin
    bins ``origins`` (O,); inputs (B, T, U) or None (known ahead: they are not observations). Every step up to the
    last lead is sampled; the emission mean is computed at the asked leads only. Returns one tensor (B, O, D) per
    lead; leads past the window reuse its last input and are never scored.
    """
    num_particles, batch, num_origins = states.shape
    state = states.reshape(num_particles, batch * num_origins)
    latent = latents.reshape(num_particles, batch * num_origins, -1)
    flat_weights = weights.reshape(num_particles, batch * num_origins)
    wanted = set(leads)
    predictions = []
    for lead in range(1, max(leads, default=0) + 1):
        step_input = None
        if inputs is not None:
            bins = (origins + lead).clamp(max=inputs.shape[1] - 1)
            step_input = inputs[:, bins].reshape(batch * num_origins, -1).expand(num_particles, -1, -1)
        uniform = torch.rand(state.shape, generator=generator, dtype=latent.dtype)
        noise = torch.randn(latent.shape, generator=generator, dtype=latent.dtype)
        state, latent = _step(model, state, latent, step_input, uniform, noise)
        if lead in wanted:
            expected = model.emission_mean(latent)  # (K, B·O, D)
            average = (expected * flat_weights.unsqueeze(-1)).sum(0)  # einsum: B·O tiny products, far slower
            predictions.append(average.reshape(batch, num_origins, -1))
    return predictions


def _step(
    model: SwitchingRNN,
    state: torch.Tensor,
    latent: torch.Tensor,
    step_input: torch.Tensor | None,
    uniform: torch.Tensor,
    noise: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One generative step for particles: state (K, N) int64, latent (K, N, P), input x_t (K, N, U) or None,
    uniforms (K, N) and standard-normal noise (K, N, P) -> (z_t, h_t)."""
    # The model's batch × time layout is reused as particles × sequences: both functions act on the last axis.
    log_transition = model.transitions.log_transition_from(latent, step_input)  # (K, N, S, S)
    rows = torch.gather(
        log_transition, 2, state[..., None, None].expand(-1, -1, 1, model.num_states)
    ).squeeze(2)  # (K, N, S): log p(z_t = · | z_{t-1})
    next_state = _sample_categorical(rows.exp(), uniform)
    means = model.dynamics_mean(latent, step_input)  # (K, N, S, P)
    mean = torch.gather(means, 2, next_state[..., None, None].expand(-1, -1, 1, model.latent_dim)).squeeze(2)
    return next_state, mean + model.dynamics_std()[next_state] * noise


def _sample_categorical(probabilities: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw from probabilities (..., S) with uniforms (...,) in [0, 1): int64 (...,)."""
    cumulative = probabilities.cumsum(-1)
    position = uniform.unsqueeze(-1) * cumulative[..., -1:]
    return (cumulative <= position).sum(-1).clamp(max=probabilities.shape[-1] - 1)
