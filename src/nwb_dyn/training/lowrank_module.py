"""LightningModule for the stochastic low-rank RNN: maximise the SMC evidence estimate per time step."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from nwb_dyn.config import FitConfig
from nwb_dyn.data import WindowBatch
from nwb_dyn.errors import TrainingError
from nwb_dyn.inference.smc import run_smc
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.training.randomness import TRAIN_STREAM, VALIDATION_STREAM, window_generators


class LowRankModule(pl.LightningModule):
    """Wires :class:`LowRankRNN` to variational SMC.

    The loss is −mean over sequences of log p̂(y_{1:T}) / T (nats per time step), as in algorithms.md §1.9.
    """

    def __init__(self, config: FitConfig, num_channels: int, likelihood: str) -> None:
        super().__init__()
        settings = config.lowrank
        self.config = config
        self.model = LowRankRNN(
            rank=settings.rank,
            num_units=settings.units,
            num_channels=num_channels,
            likelihood=likelihood,
            activation=settings.activation,
            decay_init=settings.decay_init,
            transition_noise_std_init=settings.transition_noise_std_init,
        )
        self.num_particles = settings.particles
        self.learning_rate = config.trainer.learning_rate

    def _loss(self, batch: WindowBatch, stream: int) -> torch.Tensor:
        # One generator per window (seeded by seed, stream, epoch, window row): the objective does not depend on
        # how windows are batched or split across DDP ranks, and a resumed epoch replays exactly (issue 10).
        generators = window_generators(
            self.config.seed, stream, self.current_epoch, batch.index, device=batch.values.device
        )
        result = run_smc(self.model, batch.values, batch.mask, self.num_particles, generator=generators)
        return -(result.log_marginal / batch.values.shape[1]).mean()

    def training_step(self, batch: WindowBatch, batch_index: int) -> torch.Tensor:
        loss = self._loss(batch, TRAIN_STREAM)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"the objective became {loss.item()} at step {self.global_step}; lower --learning-rate or the "
                "bin width, or use more particles"
            )
        self.log("train_loss", loss, prog_bar=True, batch_size=batch.values.shape[0])
        return loss

    def validation_step(self, batch: WindowBatch, batch_index: int) -> None:
        loss = self._loss(batch, VALIDATION_STREAM)
        self.log("val_loss", loss, prog_bar=True, batch_size=batch.values.shape[0], sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)
