"""The Lightning Trainer factory: devices and strategy, guards, schedule, checkpoints, logs and progress.

DDP goes through Lightning's own launchers: ``ddp`` re-executes the command for each local rank (and is what
``torchrun`` and SLURM launch), ``ddp_spawn``/``ddp_fork`` start processes from inside Python. Our seeded shard
sampler replaces Lightning's distributed sampler so that data order depends on the seed and epoch only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.exceptions import MisconfigurationException
from pytorch_lightning.callbacks import Callback, ModelCheckpoint, RichProgressBar
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger

from nwb_dyn.config import FitConfig, TrainerConfig
from nwb_dyn.errors import ConfigError
from nwb_dyn.training.callbacks import (
    ConvergenceSchedule,
    LastCheckpoint,
    NonFiniteGuard,
    RandomStateCheckpoint,
    RunSummaryWriter,
)
from nwb_dyn.training.checkpoint_io import AtomicCheckpointIO
from nwb_dyn.training.progress_lines import TrainingProgress
from nwb_dyn.training.run import RunDirectory

#: The validation objective that picks the best checkpoint and drives early stopping.
MONITOR = "val_loss"


def default_thread_count() -> int:
    """Torch intra-op threads: ``NWB_DYN_NUM_THREADS`` if set, else min(4, cores).

    Default thread counts oversubscribe small shared machines and slowed small recurrent models 5–25× in our
    measurements, while these models rarely gain beyond a few threads.
    """
    configured = os.environ.get("NWB_DYN_NUM_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, min(4, os.cpu_count() or 1))


def _progress_bar_wanted(settings: TrainerConfig) -> bool:
    if settings.progress_bar == "auto":
        return sys.stderr.isatty()
    return settings.progress_bar == "on"


def _loggers(run_dir: Path) -> list[Logger]:
    """A CSV log always; TensorBoard as well when the ``tensorboard`` (or ``tensorboardX``) package is installed.

    Each start of the run (first, then every resume) logs to a new ``version_N`` folder: Lightning would otherwise
    delete the earlier epochs' ``metrics.csv`` when a resumed run opens it again.
    """
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="logs")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="tensorboard"))
    return loggers


def checks_every_epochs(settings: TrainerConfig, steps_per_epoch: int) -> int:
    """Epochs between two checks of the objective: about ``val_check_steps`` optimiser steps, at least one epoch,
    and no more than a capped run lasts (so that even a short capped run validates and keeps a best checkpoint)."""
    steps_per_epoch = max(1, steps_per_epoch)
    every = max(1, round(settings.val_check_steps / steps_per_epoch))
    last_epoch = -(-settings.max_steps // steps_per_epoch)
    if settings.max_epochs is not None:
        last_epoch = min(last_epoch, settings.max_epochs)
    return min(every, last_epoch)


def make_trainer(
    config: FitConfig, run_dir: Path, has_validation: bool = True, steps_per_epoch: int = 1
) -> pl.Trainer:
    """A Trainer that trains to convergence, writing checkpoints (``last.ckpt``; ``best.ckpt`` by validation loss),
    logs and a summary.

    ``steps_per_epoch`` (optimiser steps in one epoch) sets how often the objective is checked. ``run_dir`` layout:
    ``checkpoints/{last,best}.ckpt``, ``logs/version_N/metrics.csv``, ``summary.json`` (see
    :mod:`nwb_dyn.training.run`). Without validation windows there is no best checkpoint and convergence is judged
    on the training loss.
    """
    settings = config.trainer
    torch.set_num_threads(settings.num_threads or default_thread_count())
    monitor = MONITOR if has_validation else None
    check_every = checks_every_epochs(settings, steps_per_epoch)
    run = RunDirectory(run_dir)
    # best.ckpt only (last.ckpt is LastCheckpoint's): saved after each validation, or at the end of every epoch when
    # there are no validation windows (Lightning would otherwise save only after a validation that never runs).
    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best",
        monitor=monitor,
        mode="min",
        save_last=False,
        save_top_k=1,
        enable_version_counter=False,
        save_on_train_epoch_end=not has_validation,
    )
    schedule = ConvergenceSchedule(settings, check_every, monitor_validation=has_validation)
    callbacks: list[Callback] = [
        checkpoint,
        LastCheckpoint(run.last_checkpoint),
        NonFiniteGuard(check_gradients=settings.precision not in ("16-mixed",)),
        schedule,
        RandomStateCheckpoint(),
        RunSummaryWriter(run.summary_path, checkpoint, run.last_checkpoint, monitor, schedule),
    ]
    progress = _progress_bar_wanted(settings)
    if progress:
        callbacks.append(RichProgressBar(console_kwargs={"stderr": True}))
    else:  # one line per epoch instead (throttled to one per 30 s when stderr is not a terminal)
        callbacks.append(TrainingProgress(max_steps=settings.max_steps))
    try:
        return _trainer(settings, run_dir, callbacks, progress, check_every)
    except MisconfigurationException as exc:  # e.g. --accelerator gpu on a machine without one
        raise ConfigError(
            f"the trainer settings accelerator={settings.accelerator}, devices={settings.devices}, "
            f"num_nodes={settings.num_nodes}, strategy={settings.strategy}, precision={settings.precision} "
            f"cannot run here ({exc}); change --accelerator, --devices, --strategy or --precision"
        ) from None


def _trainer(
    settings: TrainerConfig, run_dir: Path, callbacks: list[Callback], progress: bool, check_every_epochs: int
) -> pl.Trainer:
    """The Lightning Trainer itself; the DataModule's seeded shard sampler replaces Lightning's distributed one."""
    return pl.Trainer(
        max_steps=-1,  # the step cap is ConvergenceSchedule's (see its _stop_at_step_cap)
        max_epochs=-1 if settings.max_epochs is None else settings.max_epochs,
        max_time=None if settings.max_time_s is None else timedelta(seconds=settings.max_time_s),
        check_val_every_n_epoch=check_every_epochs,
        accelerator=settings.accelerator,
        devices=settings.devices,
        num_nodes=settings.num_nodes,
        strategy=settings.strategy,
        precision=settings.precision,
        gradient_clip_val=settings.gradient_clip_val or None,
        deterministic=True,
        use_distributed_sampler=False,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=_loggers(run_dir),
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        default_root_dir=str(run_dir),
    )
