"""Registry of model families: how each builds its LightningModule and summarises a fitted model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytorch_lightning as pl
import torch

from nwb_dyn.analysis.lowrank_posterior import lowrank_posterior
from nwb_dyn.analysis.products import FixedPointSet, GeneratedSamples, ModelProducts
from nwb_dyn.config import FitConfig
from nwb_dyn.extract import NeuralData
from nwb_dyn.training.lowrank_module import LowRankModule
from nwb_dyn.training.srnn_module import build_srnn, summarise_srnn


@dataclass(frozen=True)
class ModelFamily:
    """A fittable family: ``build`` makes the LightningModule, ``summarise`` turns a fitted one into products."""

    name: str
    build: Callable[[FitConfig, NeuralData], pl.LightningModule]
    summarise: Callable[[pl.LightningModule, NeuralData, FitConfig], ModelProducts]


def likelihood_for(data: NeuralData, requested: str) -> str:
    """``poisson`` for spike counts and ``gaussian`` for continuous signals unless the user chose one."""
    if requested != "auto":
        return requested
    return "poisson" if data.observation == "counts" else "gaussian"


def _build_lowrank(config: FitConfig, data: NeuralData) -> pl.LightningModule:
    return LowRankModule(config, data.num_channels, likelihood_for(data, config.lowrank.obs))


def _weights(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {name: value.detach().cpu().numpy().copy() for name, value in module.state_dict().items()}


def _lowrank_fixed_points(model: torch.nn.Module) -> FixedPointSet | None:
    """Every fixed point of the fitted latent map (no input), exactly, when φ is piecewise linear."""
    if model.activation not in ("relu", "clipped_relu"):
        return None
    found = model.fixed_points()
    return FixedPointSet(
        location=found.z,
        stable=found.stable,
        eigenvalues=found.eigenvalues,
        kind="exact",
        eigenvalue_reading=found.reading,
        region=found.slopes.astype(np.int8),
    )


def _summarise_lowrank(module: pl.LightningModule, data: NeuralData, config: FitConfig) -> ModelProducts:
    model = module.model.eval()
    held_in_mask = data.mask & ~data.held_out[None, None, :]
    latents, rates = lowrank_posterior(
        model, data.values, held_in_mask, max(config.lowrank.particles, 32), seed=config.seed
    )
    generator = torch.Generator().manual_seed(config.seed)
    sample_latents, sample_observations = model.generate(
        min(data.num_windows, 16), data.num_bins, generator=generator
    )
    return ModelProducts(
        family="lowrank",
        latents=latents,
        latent_estimate="smoothed",
        rates=rates,
        weights=_weights(model),
        hyperparameters=dict(model.hyperparameters),  # constructor arguments: results.rebuild remakes the model
        fixed_points=_lowrank_fixed_points(model),
        samples=GeneratedSamples(
            latents=sample_latents.numpy(), observations=sample_observations.numpy(), seed=config.seed
        ),
    )


FAMILIES: dict[str, ModelFamily] = {
    "lowrank": ModelFamily("lowrank", _build_lowrank, _summarise_lowrank),
    "srnn": ModelFamily(
        "srnn",
        lambda config, data: build_srnn(config, data, likelihood_for(data, config.srnn.obs)),
        summarise_srnn,
    ),
}
