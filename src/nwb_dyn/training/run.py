"""The run directory of one fit: where checkpoints, logs, the resolved config and the summary live; resume rules.

Layout under ``OUT/.nwb-dyn-runs/<output stem>/``::

    config.yaml            the fully resolved configuration of the latest start
    checkpoints/last.ckpt  written (atomically) at the end of every epoch
    checkpoints/best.ckpt  the epoch with the lowest validation objective
    logs/version_N/metrics.csv  one per start (first run, then each resume), a row per logged step/epoch
    summary.json           epochs, steps, best metric (rank 0, end of fit)

Re-running the same ``nwb-dyn fit`` with the same ``--out`` resumes from ``last.ckpt``; ``--resume PATH`` picks
another checkpoint and ``--fresh`` discards the old ones.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from nwb_dyn.atomic import write_text_atomically
from nwb_dyn.config import FitConfig
from nwb_dyn.errors import ConfigError, TrainingError
from nwb_dyn.training.checkpoint_io import read_checkpoint

#: Environment variables through which launchers (Lightning, torchrun, SLURM) tell a process its global rank.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


@dataclass(frozen=True)
class RunDirectory:
    """Paths of one fit's run directory."""

    root: Path

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"


@dataclass(frozen=True)
class ResumePoint:
    """A checkpoint to continue from and the number of epochs it had completed."""

    path: Path
    epochs_done: int


def run_directory(out_dir: Path, output_stem: str) -> RunDirectory:
    """The run directory that belongs to the output file ``<output_stem>.nwb`` under ``out_dir``."""
    return RunDirectory(out_dir / ".nwb-dyn-runs" / output_stem)


def launched_rank() -> int:
    """This process's global rank as set by the launcher (0 when not launched for DDP or before launch)."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name)
        if value is not None and value.strip().isdigit():
            return int(value)
    return 0


def prepare_run(run: RunDirectory, config: FitConfig, fresh: bool) -> None:
    """On rank 0: empty the run directory when ``fresh``, then save the resolved config beside the checkpoints."""
    if launched_rank() != 0:
        return
    if fresh and run.root.exists():
        shutil.rmtree(run.root)
    run.root.mkdir(parents=True, exist_ok=True)
    write_text_atomically(run.config_path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def choose_resume_point(run: RunDirectory, resume: Path | None, fresh: bool) -> ResumePoint | None:
    """The checkpoint to resume from: ``resume`` if given, none if ``fresh``, else the run's ``last.ckpt`` if any."""
    if resume is not None and fresh:
        raise ConfigError("--resume and --fresh contradict each other; pass one of them")
    if fresh:
        return None
    path = Path(resume).expanduser() if resume is not None else run.last_checkpoint
    if resume is None and not path.exists():
        return None
    checkpoint = read_checkpoint(path)
    return ResumePoint(path=path, epochs_done=int(checkpoint.get("epoch", -1)) + 1)


def check_compatible(point: ResumePoint, module: torch.nn.Module) -> None:
    """Raise :class:`TrainingError` naming the checkpoint unless its weights have this module's names and shapes."""
    saved = read_checkpoint(point.path).get("state_dict")
    if not isinstance(saved, dict):
        raise TrainingError(f"checkpoint {point.path} holds no model weights ('state_dict'); pass --fresh to start over")
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    found = {name: tuple(value.shape) for name, value in saved.items() if isinstance(value, torch.Tensor)}
    problems = [f"'{name}' missing" for name in sorted(set(expected) - set(found))]
    problems += [f"unexpected '{name}'" for name in sorted(set(found) - set(expected))]
    problems += [
        f"'{name}' has shape {found[name]} in the checkpoint but {shape} in this model"
        for name, shape in expected.items()
        if name in found and found[name] != shape
    ]
    if problems:
        raise TrainingError(
            f"checkpoint {point.path} was written by an incompatible model ({'; '.join(problems[:3])}); it comes "
            "from a different configuration (e.g. --rank, --units, --latent-dim, --states, --model, the data's "
            "channels, or a default that changed since the run began: the SRNN's latent size was 3 in earlier "
            "versions): pass --fresh to start over, or choose another --out"
        )


def read_summary(run: RunDirectory) -> dict[str, Any]:
    """The ``summary.json`` written at the end of the fit (empty when the fit did not reach its end)."""
    if not run.summary_path.is_file():
        return {}
    return json.loads(run.summary_path.read_text())


def _stop_note(reason: str | None) -> str:
    """What the steps line says about why training ended (see :meth:`ConvergenceSchedule.stop_reason`)."""
    if reason is None:
        return ""
    if reason == "converged":
        return "  (converged)"
    if reason == "diverged":
        return "  (DIVERGED: the objective ended worse than it began)"
    return f"  (NOT converged: {reason} cap)"


def summary_lines(summary: dict[str, Any], output: Path) -> list[str]:
    """The end-of-run screen: epochs, steps, best validation metric, wall time, output and run directory."""
    best = summary.get("best_metric")
    monitor = summary.get("monitor") or "validation objective"
    reason = summary.get("stop_reason")
    lines = [
        f"  epochs       {summary.get('epochs', '?')}"
        + (f"  (resumed after epoch {summary['resumed_after_epochs']})" if summary.get("resumed_after_epochs") else ""),
        f"  steps        {summary.get('global_steps', '?')}"
        + _stop_note(reason),
        f"  {'best ' + monitor:<12} {'n/a' if best is None else f'{best:.4f}'}",
        f"  wall time    {summary.get('wall_time_s', 0.0):.1f} s",
        f"  output       {output}",
    ]
    if summary.get("run_dir"):
        lines.append(f"  run dir      {summary['run_dir']}")
    return lines
