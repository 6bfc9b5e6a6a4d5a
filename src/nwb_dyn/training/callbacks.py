"""Lightning callbacks for long runs: a NaN/Inf guard, a learning-rate schedule, RNG state in checkpoints, a summary.

They hold no model math; each does one job any model family needs when it trains for hours on a cluster.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from nwb_dyn.atomic import write_text_atomically
from nwb_dyn.config import TrainerConfig
from nwb_dyn.errors import TrainingError

#: What to try when the objective or its gradient stops being finite.
_NAN_ADVICE = (
    "try a lower --learning-rate, a smaller trainer.gradient_clip_val, more --particles, or a wider --bin-width; "
    "the last good checkpoint is kept, so --resume it after changing the config"
)


class NonFiniteGuard(Callback):
    """Stops training with :class:`TrainingError` naming the step when the loss or any gradient is NaN/Inf.

    Gradients are checked after DDP has averaged them (``on_before_optimizer_step``), so every rank sees the same
    values and stops together instead of one rank leaving the others waiting. Mixed-precision runs skip the
    gradient check: their loss scaler produces and skips infinite gradients on purpose.
    """

    def __init__(self, check_gradients: bool = True) -> None:
        self.check_gradients = check_gradients
        self._batch_step = 0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # The optimiser step of this batch increments global_step before on_train_batch_end runs.
        self._batch_step = trainer.global_step

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not torch.isfinite(loss).all():
            raise TrainingError(
                f"the training objective became {loss.item()} at step {self._batch_step} "
                f"(epoch {trainer.current_epoch}, batch {batch_idx}); {_NAN_ADVICE}"
            )

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not self.check_gradients:
            return
        for name, parameter in pl_module.named_parameters():
            if parameter.grad is not None and not torch.isfinite(parameter.grad).all():
                raise TrainingError(
                    f"the gradient of '{name}' became non-finite at step {trainer.global_step} "
                    f"(epoch {trainer.current_epoch}); {_NAN_ADVICE}"
                )


def learning_rate_factor(epoch: int, settings: TrainerConfig) -> float:
    """Multiplier of ``trainer.learning_rate`` in ``epoch`` (0-based): linear warm-up, then constant or cosine.

    Cosine decays from 1 to ``lr_min_factor`` over the epochs after warm-up. A pure function of the epoch, so a
    resumed run needs no scheduler state to continue the same schedule.
    """
    warmup = settings.lr_warmup_epochs
    if epoch < warmup:
        return (epoch + 1) / (warmup + 1)
    if settings.lr_schedule == "constant":
        return 1.0
    progress = (epoch - warmup) / max(1, settings.max_epochs - warmup)
    floor = settings.lr_min_factor
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class LearningRateSchedule(Callback):
    """Sets every optimiser group's learning rate to ``trainer.learning_rate × learning_rate_factor(epoch)``."""

    def __init__(self, settings: TrainerConfig) -> None:
        self.settings = settings

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        rate = self.settings.learning_rate * learning_rate_factor(trainer.current_epoch, self.settings)
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = rate
        pl_module.log("learning_rate", rate, on_step=False, on_epoch=True, batch_size=1)


class RandomStateCheckpoint(Callback):
    """Saves and restores the global torch, numpy and Python random states with each checkpoint.

    The SMC objective draws from per-window generators (training/randomness.py), but anything else that uses the
    global generators would otherwise restart from a different state after a resume. Stored as tensors and plain
    Python values so that checkpoints load with ``weights_only=True``.
    """

    def state_dict(self) -> dict[str, Any]:
        numpy_state = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "numpy_keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "numpy_position": int(numpy_state[2]),
            "numpy_has_gauss": int(numpy_state[3]),
            "numpy_cached_gaussian": float(numpy_state[4]),
            "python": random.getstate(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        np.random.set_state(
            (
                "MT19937",
                state_dict["numpy_keys"].numpy().astype(np.uint32),
                state_dict["numpy_position"],
                state_dict["numpy_has_gauss"],
                state_dict["numpy_cached_gaussian"],
            )
        )
        random.setstate(state_dict["python"])


class RunSummaryWriter(Callback):
    """Writes ``summary.json`` (epochs, steps, best validation metric, stop reason) at the end of a fit, on rank 0.

    A file rather than trainer state because, after ``ddp_spawn``/``ddp_fork``, the parent process's trainer no
    longer knows its epoch or step count.
    """

    def __init__(self, path: Path, checkpoint: ModelCheckpoint, monitor: str | None) -> None:
        self.path = path
        self.checkpoint = checkpoint
        self.monitor = monitor

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        best = self.checkpoint.best_model_score
        summary = {
            "epochs": int(trainer.current_epoch),
            "global_steps": int(trainer.global_step),
            "monitor": self.monitor,
            "best_metric": None if best is None else float(best),
            "best_checkpoint": self.checkpoint.best_model_path or None,
            "last_checkpoint": self.checkpoint.last_model_path or None,
            "stopped_early": bool(trainer.should_stop and trainer.current_epoch < (trainer.max_epochs or 0)),
            "final_metrics": {
                name: float(value) for name, value in trainer.callback_metrics.items() if value.numel() == 1
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.path, json.dumps(summary, indent=2))
