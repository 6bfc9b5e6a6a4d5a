"""The Lightning Trainer factory: devices, checkpoints in the run directory, CSV logs, deterministic by default."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from nwb_dyn.config import FitConfig


def default_thread_count() -> int:
    """Torch intra-op threads: ``NWB_DYN_NUM_THREADS`` if set, else min(4, cores).

    Default thread counts oversubscribe small shared machines and slowed small recurrent models 5–25× in our
    measurements, while these models rarely gain beyond a few threads.
    """
    configured = os.environ.get("NWB_DYN_NUM_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, min(4, os.cpu_count() or 1))


def make_trainer(config: FitConfig, run_dir: Path, enable_progress_bar: bool = False) -> pl.Trainer:
    """A Trainer that writes checkpoints (last and best by validation loss) and a CSV log under ``run_dir``."""
    settings = config.trainer
    torch.set_num_threads(settings.num_threads or default_thread_count())
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val_loss",
        mode="min",
        save_last=True,
        save_top_k=1,
    )
    return pl.Trainer(
        max_epochs=settings.max_epochs,
        accelerator=settings.accelerator,
        devices=settings.devices,
        gradient_clip_val=settings.gradient_clip_val or None,
        deterministic=True,
        callbacks=[checkpoint],
        logger=CSVLogger(save_dir=str(run_dir), name="logs", version=""),
        enable_progress_bar=enable_progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        default_root_dir=str(run_dir),
    )
