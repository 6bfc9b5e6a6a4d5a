"""Lightning callbacks for long runs: a NaN/Inf guard, training to convergence, RNG state in checkpoints, a summary.

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
from pytorch_lightning.callbacks import Callback, Checkpoint, ModelCheckpoint, Timer

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


#: How far (relative to the best objective) the last check must lie above the best for a fit that ends worse than
#: it began to count as diverged: far above the noise of a converged validation or epoch-mean training loss.
DIVERGENCE_RISE = 0.1


class ConvergenceSchedule(Callback):
    """Trains until the objective stops improving: learning-rate warm-up, halving on plateaus, and the stop rule.

    The objective is checked every ``check_every_epochs`` epochs (chosen by the Trainer factory so that a check
    falls about every ``trainer.val_check_steps`` optimiser steps, at epoch ends so that a resume replays whole
    epochs): the validation loss when there are validation windows, else the mean training loss since the last check.
    A check improves when the objective drops by more than ``trainer.min_improvement`` (relative). After
    ``trainer.lr_plateau_steps`` optimiser steps without improvement the learning rate halves (down to
    ``lr_min_factor`` × the initial rate); after ``trainer.patience_steps`` without improvement the fit has
    converged and stops. ``max_epochs`` and ``max_time_s`` are caps the Trainer enforces, ``max_steps`` one this
    callback enforces (:meth:`_stop_at_step_cap`); when one of them ends the fit first, :attr:`stop_reason` says so
    and the summary and stdout report "not converged". A fit whose objective ends worse than at its first check has
    diverged, not converged, although it stopped by the same rule.

    The learning rate during the first ``lr_warmup_steps`` steps rises linearly to its value. All state is saved in
    checkpoints, so a resumed fit continues the same schedule.
    """

    def __init__(self, settings: TrainerConfig, check_every_epochs: int, monitor_validation: bool) -> None:
        self.settings = settings
        self.check_every_epochs = max(1, check_every_epochs)
        self.monitor_validation = monitor_validation
        self.best = math.inf
        self.best_step = 0
        self.first = math.inf
        self.last = math.inf
        self.last_decay_step = 0
        self.rate_factor = 1.0
        self.converged = False
        self._train_loss_sum = 0.0
        self._train_loss_count = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "first": self.first,
            "last": self.last,
            "last_decay_step": self.last_decay_step,
            "rate_factor": self.rate_factor,
            "converged": self.converged,
            "train_loss_sum": self._train_loss_sum,
            "train_loss_count": self._train_loss_count,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._train_loss_sum = state_dict.pop("train_loss_sum", 0.0)
        self._train_loss_count = state_dict.pop("train_loss_count", 0)
        for key, value in state_dict.items():
            setattr(self, key, value)

    def learning_rate(self, step: int) -> float:
        """The learning rate at optimiser step ``step`` (0-based): warm-up × plateau halvings × base rate."""
        warmup = self.settings.lr_warmup_steps
        ramp = min(1.0, (step + 1) / (warmup + 1)) if warmup else 1.0
        return self.settings.learning_rate * self.rate_factor * ramp

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        rate = self.learning_rate(trainer.global_step)
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = rate

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop_at_step_cap(trainer)  # a run resumed from its final checkpoint takes no further step

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            self._train_loss_sum += float(loss.detach())
            self._train_loss_count += 1
        self._stop_at_step_cap(trainer)

    def _stop_at_step_cap(self, trainer: pl.Trainer) -> None:
        """Stop the Trainer once ``max_steps`` optimiser steps are taken.

        Here rather than as Lightning's ``max_steps``: with that set, Lightning restarts a run from an epoch-end
        checkpoint (``last.ckpt``) as an unfinished epoch and trains one extra batch in it whenever that epoch did not
        validate, so the resumed run would leave the uninterrupted one's path.
        """
        if trainer.global_step >= self.settings.max_steps:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.log("learning_rate", self.learning_rate(trainer.global_step), on_epoch=True, batch_size=1)
        if self.monitor_validation or (trainer.current_epoch + 1) % self.check_every_epochs:
            return
        if self._train_loss_count:
            self._check(trainer, self._train_loss_sum / self._train_loss_count)
        self._train_loss_sum, self._train_loss_count = 0.0, 0

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.monitor_validation or trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get("val_loss")
        if value is not None:
            self._check(trainer, float(value))

    def _check(self, trainer: pl.Trainer, objective: float) -> None:
        """Update the plateau state with one objective value; stop the Trainer once converged."""
        step = trainer.global_step
        settings = self.settings
        if not math.isfinite(objective):
            return  # the NaN guard reports it
        if not math.isfinite(self.first):
            self.first = objective
        self.last = objective
        threshold = (
            self.best - settings.min_improvement * abs(self.best) if math.isfinite(self.best) else math.inf
        )
        if objective < threshold:
            self.best, self.best_step = objective, step
        elif step - max(self.best_step, self.last_decay_step) >= settings.lr_plateau_steps:
            if self.rate_factor > settings.lr_min_factor:
                self.rate_factor = max(settings.lr_min_factor, self.rate_factor * 0.5)
            self.last_decay_step = step
        if step - self.best_step >= settings.patience_steps:
            self.converged = True
            trainer.should_stop = True

    @property
    def diverged(self) -> bool:
        """Whether training became unstable: the objective's last check came out worse than its first, and more than
        :data:`DIVERGENCE_RISE` above its best (so that noise about a flat objective is not called divergence)."""
        if not math.isfinite(self.first):
            return False
        return self.last > self.first and self.last - self.best > DIVERGENCE_RISE * abs(self.best)

    def stop_reason(self, trainer: pl.Trainer) -> str:
        """Why training ended: ``converged``, ``diverged`` (it stopped improving and ended worse than it began), or
        the cap that ended it (``max_steps``, ``max_epochs``, ``max_time_s``)."""
        if self.converged:
            return "diverged" if self.diverged else "converged"
        settings = self.settings
        if trainer.global_step >= settings.max_steps:
            return "max_steps"
        if settings.max_epochs is not None and trainer.current_epoch >= settings.max_epochs:
            return "max_epochs"
        timers = [callback for callback in trainer.callbacks if isinstance(callback, Timer)]
        if timers and (timers[0].time_remaining() or 0.0) <= 0:
            return "max_time_s"
        return "interrupted"


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


class LastCheckpoint(Checkpoint):
    """Writes ``path`` (the run's ``last.ckpt``) at the end of every training epoch, improved or not.

    Lightning's ``ModelCheckpoint(save_last=True)`` writes ``last`` only at a step where it also wrote a top-k
    checkpoint (the validation objective improved), and once more at the end of training when this process has
    written none: ``last.ckpt`` held the last improving epoch, so a killed run replayed every epoch since, and a
    resumed process whose validations never improved rewrote it with its final weights at the end while the
    uninterrupted run kept the stale ones. As a :class:`Checkpoint` it runs after the other callbacks' epoch-end hooks
    (the convergence schedule's check) and after validation, so the file holds the whole state after the epoch.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trainer.save_checkpoint(self.path)


class RunSummaryWriter(Callback):
    """Writes ``summary.json`` (epochs, steps, best metric, why training stopped) at the end of a fit, on rank 0.

    A file rather than trainer state because, after ``ddp_spawn``/``ddp_fork``, the parent process's trainer no
    longer knows its epoch or step count.
    """

    def __init__(
        self,
        path: Path,
        checkpoint: ModelCheckpoint,
        last_checkpoint: Path,
        monitor: str | None,
        schedule: ConvergenceSchedule,
    ) -> None:
        self.path = path
        self.checkpoint = checkpoint
        self.last_checkpoint = last_checkpoint
        self.monitor = monitor
        self.schedule = schedule

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        best = self.checkpoint.best_model_score
        stop_reason = self.schedule.stop_reason(trainer)
        summary = {
            "epochs": int(trainer.current_epoch),
            "global_steps": int(trainer.global_step),
            "monitor": self.monitor,
            "best_metric": None if best is None else float(best),
            "best_checkpoint": self.checkpoint.best_model_path or None,
            "last_checkpoint": str(self.last_checkpoint) if self.last_checkpoint.is_file() else None,
            "stop_reason": stop_reason,
            "converged": stop_reason == "converged",
            "first_objective": _finite_or_none(self.schedule.first),
            "last_objective": _finite_or_none(self.schedule.last),
            "final_learning_rate": self.schedule.learning_rate(trainer.global_step),
            "final_metrics": {
                name: float(value) for name, value in trainer.callback_metrics.items() if value.numel() == 1
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.path, json.dumps(summary, indent=2))


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
