"""Checkpoint files written atomically and read with ``weights_only=True``."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from nwb_dyn.atomic import atomic_path
from nwb_dyn.errors import TrainingError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that never leaves a half-written checkpoint behind.

    A checkpoint is written to a temporary file in the same directory, flushed to disk, then renamed over the
    target: a process killed mid-save leaves the previous ``last.ckpt`` intact. Reading uses ``weights_only=True``
    (no pickled code runs) and turns unreadable files into :class:`TrainingError` naming the file.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        with atomic_path(Path(path)) as temporary:
            torch.save(checkpoint, temporary)

    def load_checkpoint(
        self, path: Any, map_location: Callable | None = lambda storage, loc: storage, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return read_checkpoint(Path(path), map_location)


def read_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True``; errors name the file and what to do."""
    if not path.is_file():
        raise TrainingError(f"checkpoint {path} does not exist; check --resume, or pass --fresh to start over")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError, OSError) as exc:  # truncated/foreign/unsafe
        raise TrainingError(
            f"checkpoint {path} cannot be read as a weights-only nwb-dyn checkpoint ({type(exc).__name__}); "
            "delete it or pass --fresh to start over"
        ) from None


def load_best_weights(trainer: Any, module: torch.nn.Module) -> str:
    """Put the weights of the best checkpoint (by the validation objective) into ``module``; say which were used.

    Early stopping and a noisy objective mean the last epoch is rarely the best one; the result file should hold
    the model that validated best. Without validation windows there is no best checkpoint and the last weights stay.
    """
    checkpoint = trainer.checkpoint_callback
    best_path = getattr(checkpoint, "best_model_path", "") if getattr(checkpoint, "monitor", None) else ""
    if not best_path or not Path(best_path).is_file():
        return "last epoch (no validation windows, so no best checkpoint)"
    state = read_checkpoint(Path(best_path))
    module.load_state_dict(state["state_dict"])
    score = getattr(checkpoint, "best_model_score", None)
    described = "" if score is None else f", {checkpoint.monitor} {float(score):.4f}"
    return f"best checkpoint by {checkpoint.monitor} (epoch {state.get('epoch', '?')}{described})"
