"""Run-directory rules: which checkpoint a fit resumes from, and the shape check against the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from nwb_dyn.config import FitConfig
from nwb_dyn.errors import ConfigError, TrainingError
from nwb_dyn.training.checkpoint_io import AtomicCheckpointIO
from nwb_dyn.training.run import (
    ResumePoint,
    check_compatible,
    choose_resume_point,
    prepare_run,
    run_directory,
    summary_lines,
)


class _Tiny(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, width)


def _save(path: Path, module: torch.nn.Module, epoch: int) -> Path:
    AtomicCheckpointIO().save_checkpoint({"epoch": epoch, "state_dict": module.state_dict()}, path)
    return path


def test_resume_point_defaults_to_last_ckpt_and_fresh_discards_it(tmp_path: Path) -> None:
    run = run_directory(tmp_path, "sub-x_desc-lowrank_ecephys")
    assert choose_resume_point(run, None, fresh=False) is None
    _save(run.last_checkpoint, _Tiny(3), epoch=4)
    assert choose_resume_point(run, None, fresh=False) == ResumePoint(run.last_checkpoint, epochs_done=5)
    assert choose_resume_point(run, None, fresh=True) is None
    other = _save(tmp_path / "other.ckpt", _Tiny(3), epoch=0)
    assert choose_resume_point(run, other, fresh=False) == ResumePoint(other, epochs_done=1)
    with pytest.raises(ConfigError, match="--resume and --fresh"):
        choose_resume_point(run, other, fresh=True)


def test_prepare_run_saves_the_resolved_config_and_fresh_empties_the_directory(tmp_path: Path) -> None:
    run = run_directory(tmp_path, "result")
    _save(run.last_checkpoint, _Tiny(3), epoch=0)
    config = FitConfig(seed=11)
    prepare_run(run, config, fresh=True)
    assert not run.last_checkpoint.exists()
    assert yaml.safe_load(run.config_path.read_text()) == config.to_dict()


def test_incompatible_shapes_name_the_checkpoint_and_the_parameter(tmp_path: Path) -> None:
    point = ResumePoint(_save(tmp_path / "last.ckpt", _Tiny(3), epoch=0), 1)
    check_compatible(point, _Tiny(3))
    with pytest.raises(TrainingError) as raised:
        check_compatible(point, _Tiny(4))
    message = str(raised.value)
    assert str(point.path) in message
    assert "'layer.weight' has shape (3, 2) in the checkpoint but (4, 2) in this model" in message


def test_summary_screen_lists_epochs_best_metric_wall_time_and_output() -> None:
    lines = summary_lines(
        {"epochs": 7, "global_steps": 21, "monitor": "val_loss", "best_metric": 1.23456, "wall_time_s": 3.21,
         "stop_reason": "max_steps"},
        Path("out/x.nwb"),
    )
    text = "\n".join(lines)
    assert "epochs       7" in text and "best val_loss 1.2346" in text
    assert "steps        21  (NOT converged: max_steps cap)" in text
    assert "wall time    3.2 s" in text and "output       out/x.nwb" in text
    diverged = "\n".join(summary_lines({"global_steps": 21, "stop_reason": "diverged"}, Path("out/x.nwb")))
    assert "steps        21  (DIVERGED: the objective ended worse than it began)" in diverged
