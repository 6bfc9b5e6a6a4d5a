"""Registry of model families: how each builds its LightningModule and summarises a fitted model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch

from nwb_dyn.analysis.fixed_point_search import search_fixed_points
from nwb_dyn.analysis.forecast import Forecasts
from nwb_dyn.analysis.lowrank_forecast import lowrank_forecasts
from nwb_dyn.analysis.lowrank_posterior import lowrank_posterior
from nwb_dyn.analysis.products import FixedPointSet, GeneratedSamples, ModelProducts
from nwb_dyn.analysis.srnn_forecast import srnn_forecasts
from nwb_dyn.config import FitConfig
from nwb_dyn.extract import NeuralData
from nwb_dyn.training.data_init import data_initialisation, likelihood_for, per_window_latents
from nwb_dyn.training.lowrank_module import LOWRANK_LATENT_STD, LowRankModule
from nwb_dyn.training.srnn_module import build_srnn, summarise_srnn


@dataclass(frozen=True)
class ModelFamily:
    """A fittable family: ``build`` makes the LightningModule, ``summarise`` turns a fitted one into products."""

    name: str
    build: Callable[[FitConfig, NeuralData], pl.LightningModule]
    summarise: Callable[[pl.LightningModule, NeuralData, FitConfig], ModelProducts]
    #: k-step-ahead and forward-tail forecasts of every window from the fitted generative model alone (the
    #: LightningModule's ``model``, or one rebuilt from a result file), so fit and ``nwb-dyn evaluate`` agree.
    forecast: Callable[[torch.nn.Module, NeuralData, FitConfig], Forecasts] | None = None


def _build_lowrank(config: FitConfig, data: NeuralData) -> pl.LightningModule:
    num_inputs = 0 if data.inputs is None else data.inputs.shape[-1]
    module = LowRankModule(config, data.num_channels, likelihood_for(data, config.lowrank.obs), num_inputs)
    if config.trainer.init_from_data:
        found = data_initialisation(config, data, config.lowrank.rank, latent_std=LOWRANK_LATENT_STD)
        module.model.initialise_from(found)
        module.set_initial_stage_latents(per_window_latents(found, data))
    return module


def _weights(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {name: value.detach().cpu().numpy().copy() for name, value in module.state_dict().items()}


def _lowrank_fixed_points(model: torch.nn.Module, latents: np.ndarray, config: FitConfig) -> FixedPointSet | None:
    """Fixed points of the fitted latent map (no input) within ``analysis.fixed_point_budget_s``: exact when the
    enumeration is predicted to fit, else searched from the posterior latents (B, T, R); None when turned off."""
    if config.analysis.fixed_points == "off":
        return None
    as_numpy = lambda tensor: tensor.detach().cpu().numpy().astype(float)
    found = search_fixed_points(
        float(model.decay.detach()),
        as_numpy(model.n),
        as_numpy(model.m),
        as_numpy(model.h),
        model.activation,
        latents,
        method=config.analysis.fixed_points,
        budget_s=config.analysis.fixed_point_budget_s,
        seed=config.seed,
    )
    return FixedPointSet(
        location=found.z,
        stable=found.stable,
        eigenvalues=found.eigenvalues,
        kind=found.method,
        eigenvalue_reading="discrete",
        region=found.slopes,
        search=found.record(),
    )


def _summarise_lowrank(module: pl.LightningModule, data: NeuralData, config: FitConfig) -> ModelProducts:
    model = module.model.eval()
    posterior = lowrank_posterior(
        model,
        data.values,
        data.held_in_mask,
        max(config.lowrank.particles, 32),
        seed=config.seed,
        proposal=module.proposal,
        encoder=None if module.encoder is None else module.encoder.eval(),
        inputs=data.inputs,
    )
    latents, rates = posterior.smoothed_latents, posterior.rates
    generator = torch.Generator().manual_seed(config.seed)
    num_samples = min(data.num_windows, 16)
    sample_inputs = None if data.inputs is None else torch.as_tensor(data.inputs[:num_samples], dtype=torch.float32)
    sample_latents, sample_observations = model.generate(
        num_samples, data.num_bins, inputs=sample_inputs, generator=generator
    )
    return ModelProducts(
        family="lowrank",
        latents=latents,
        latent_estimate="smoothed",
        rates=rates,
        weights=_weights(model),
        hyperparameters=dict(model.hyperparameters),  # constructor arguments: results.rebuild remakes the model
        fixed_points=_lowrank_fixed_points(model, latents, config),
        samples=GeneratedSamples(
            latents=sample_latents.numpy(),
            observations=sample_observations.numpy(),
            seed=config.seed,
            conditioning=(
                "free-running from the learned initial-state distribution"
                if sample_inputs is None
                else f"the external inputs of the first {num_samples} windows, from the learned initial state"
            ),
        ),
    )


FAMILIES: dict[str, ModelFamily] = {
    "lowrank": ModelFamily("lowrank", _build_lowrank, _summarise_lowrank, lowrank_forecasts),
    "srnn": ModelFamily(
        "srnn",
        lambda config, data: build_srnn(config, data, likelihood_for(data, config.srnn.obs)),
        summarise_srnn,
        srnn_forecasts,
    ),
}
