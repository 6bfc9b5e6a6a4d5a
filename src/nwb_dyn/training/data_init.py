"""What a family's model starts from, read off the data: the likelihood and the readout statistics."""

from __future__ import annotations

import dataclasses

import torch

from nwb_dyn.config import FitConfig
from nwb_dyn.extract import NeuralData
from nwb_dyn.models.initialisation import (
    COUNT_SMOOTHING_S,
    ObservationInit,
    observation_init,
    signal_dimensions,
)


def likelihood_for(data: NeuralData, requested: str) -> str:
    """``poisson`` for spike counts and ``gaussian`` for continuous signals unless the user chose one."""
    if requested != "auto":
        return requested
    return "poisson" if data.observation == "counts" else "gaussian"


def data_initialisation(
    config: FitConfig, data: NeuralData, latent_dim: int, latent_std: float
) -> ObservationInit:
    """Readout statistics of ``data``'s training windows (every observed channel, held-out ones included: their
    readout is learned from training windows), for :meth:`initialise_from` of either family."""
    rows = data.split_indices("train")
    lowrank = config.model == "lowrank"
    likelihood = likelihood_for(data, config.lowrank.obs if lowrank else config.srnn.obs)
    smoothing_s = COUNT_SMOOTHING_S if data.observation == "counts" else 0.0
    return observation_init(
        data.values,
        data.mask,
        latent_dim,
        likelihood,
        link=config.lowrank.link if lowrank else "softplus",  # the SRNN's Poisson emission is softplus
        smoothing_bins=smoothing_s / data.bin_width_s,
        latent_std=latent_std,
        windows=rows,
    )


def resolve_rank(config: FitConfig, data: NeuralData) -> tuple[FitConfig, dict | None]:
    """``config`` with ``lowrank.rank: auto`` replaced by the rank read off ``data``'s training windows
    (:func:`signal_dimensions`, at most ``lowrank.units``), and a record of the choice for the result (None when
    the rank was given)."""
    if config.model != "lowrank" or config.lowrank.rank != "auto":
        return config, None
    smoothing_s = COUNT_SMOOTHING_S if data.observation == "counts" else 0.0
    found = signal_dimensions(
        data.values,
        data.mask,
        smoothing_bins=smoothing_s / data.bin_width_s,
        windows=data.split_indices("train"),
        seed=config.seed,
    )
    rank = min(found, config.lowrank.units)
    choice = {
        "requested": "auto",
        "rank": rank,
        "method": "parallel analysis: principal components of the smoothed training windows above the 95th "
        "percentile of those of copies with every channel shifted in time on its own",
    }
    resolved = dataclasses.replace(config, lowrank=dataclasses.replace(config.lowrank, rank=rank))
    return resolved, choice


def per_window_latents(found: ObservationInit, data: NeuralData) -> torch.Tensor:
    """The initialisation's latents (B_train, T, P) placed at their window rows of ``data``: (W, T, P), zeros on
    windows outside the training split (which the initial stage never reads)."""
    latents = found.latents.new_zeros((data.num_windows, *found.latents.shape[1:]))
    latents[torch.as_tensor(data.split_indices("train"))] = found.latents
    return latents


#: Std of the initial stage's pull of encoder means towards the initialisation's latents, as a fraction of the
#: latents' own std: tight enough to dominate the first steps, released after ``trainer.init_steps``.
INITIAL_STAGE_STD_FRACTION = 0.1


def initial_stage_penalty(
    encoder_means: torch.Tensor,
    targets: torch.Tensor,
    latent_std: float,
    in_window: torch.Tensor | None = None,
) -> torch.Tensor:
    """Gaussian negative log-density (constants dropped) of encoder means (B, T, P) around targets (B, T, P), with
    std ``INITIAL_STAGE_STD_FRACTION · latent_std``; summed over P, averaged over bins (nats per time step) — over
    the bins inside their windows when ``in_window`` (B, T) bool is given."""
    scale = INITIAL_STAGE_STD_FRACTION * latent_std
    squared = ((encoder_means - targets) ** 2).sum(-1)
    if in_window is not None:
        return (squared * in_window).sum() / in_window.sum().clamp_min(1) / (2 * scale**2)
    return squared.mean() / (2 * scale**2)


class InitialStage:
    """The initial stage, shared by both families' LightningModules (mixed in before ``pl.LightningModule``).

    For the first ``trainer.init_steps`` optimiser steps an encoder's means are pulled towards the data
    initialisation's latents (the PCA scores that the initialised readout maps to smoothed rates): without the pull a
    fresh encoder proposes latents near 0, i.e. constant rates, and the objective's gradient takes hundreds of steps
    to move it. ``initial_latent_std`` is the std those latents were given.
    """

    initial_latent_std: float

    def set_initial_stage_latents(self, latents: torch.Tensor) -> None:
        """Latents (W, T, P) per window row of the data (zeros for rows the stage never reads)."""
        self.register_buffer("initial_stage_latents", latents.float(), persistent=False)

    @property
    def in_initial_stage(self) -> bool:
        """True while training, during the first ``trainer.init_steps`` optimiser steps."""
        return self.training and self.global_step < self.config.trainer.init_steps

    def initial_stage_pull(
        self, encoder_means: torch.Tensor, index: torch.Tensor, in_window: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:func:`initial_stage_penalty` of encoder means (B, T, P) for window rows ``index`` (B,) (over the bins
        ``in_window`` (B, T) marks, when given); 0 outside the stage or without initialised latents."""
        targets = getattr(self, "initial_stage_latents", None)
        if targets is None or not self.in_initial_stage:
            return torch.zeros((), device=encoder_means.device)
        return initial_stage_penalty(encoder_means, targets[index], self.initial_latent_std, in_window)
