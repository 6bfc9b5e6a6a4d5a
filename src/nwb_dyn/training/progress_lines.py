"""The Lightning side of :class:`nwb_dyn.progress.TrainingLines`: epoch and long-batch lines from global rank 0.

Used when Lightning's own progress bar is not shown (stderr is not a terminal, or ``trainer.progress_bar: off``).
The epoch and time caps are read from the Trainer itself and the step cap is given (it is enforced by
:class:`nwb_dyn.training.callbacks.ConvergenceSchedule`, not the Trainer), so the lines follow whatever ends the run.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, Timer

from nwb_dyn.progress import Progress, TrainingLines, current

#: Logged values shown on each epoch's line, when logged.
SHOWN = ("train_loss", "val_loss")


class TrainingProgress(Callback):
    """Prints :class:`TrainingLines` through ``progress`` (None = the process's reporter on stderr) for a fit of at
    most ``max_steps`` optimiser steps."""

    def __init__(self, max_steps: int, progress: Progress | None = None) -> None:
        self.max_steps = max_steps
        self.progress = progress
        self.lines: TrainingLines | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        timer = next((callback for callback in trainer.callbacks if isinstance(callback, Timer)), None)
        self.lines = TrainingLines(
            self.progress or current(),
            max_epochs=trainer.max_epochs,
            max_steps=self.max_steps,
            max_time_s=None if timer is None else timer.time_remaining("train"),
            epochs_before=trainer.current_epoch,
            steps_before=trainer.global_step,
        )

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.lines is not None and trainer.is_global_zero:
            batches = trainer.num_training_batches
            self.lines.batch_end(
                trainer.current_epoch, batch_idx, batches if isinstance(batches, int) else None
            )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.lines is None or not trainer.is_global_zero:
            return
        metrics = {
            name: float(trainer.callback_metrics[name]) for name in SHOWN if name in trainer.callback_metrics
        }
        self.lines.epoch_end(trainer.current_epoch, trainer.global_step, metrics)
