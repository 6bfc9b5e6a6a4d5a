"""Checkpoints: an incompatible or unreadable one stops with TrainingError (exit 2) naming it; saves are atomic."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tests.conftest import PROJECT_ROOT
from tests.helpers import run_cli
from tests.reliability.conftest import FinishedFit

TINY = ("--max-epochs", "1", "--units", "8", "--particles", "4", "--batch-size", "4", "--bin-width", "0.05")


@pytest.fixture(scope="module")
def fitted_rank_2(finished_fit: FinishedFit, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny session and (a copy of) the output directory of a 1-epoch rank-2 fit of it, shared with the suite."""
    fit = finished_fit.copy_to(tmp_path_factory.mktemp("ckpt"))
    return fit.source, fit.out


def _last_checkpoint(out: Path) -> Path:
    (checkpoint,) = out.glob(".nwb-dyn-runs/*/checkpoints/last.ckpt")
    return checkpoint


def test_rerun_with_another_rank_names_the_incompatible_checkpoint(fitted_rank_2: tuple[Path, Path]) -> None:
    source, out = fitted_rank_2
    checkpoint = _last_checkpoint(out)
    code, stdout, stderr = run_cli("fit", str(source), "--out", str(out), "--overwrite", "--rank", "3", *TINY)
    assert code == 2 and stdout == ""
    assert f"checkpoint {checkpoint} was written by an incompatible model" in stderr
    assert "'model.n' has shape (2, 8) in the checkpoint but (3, 8) in this model" in stderr
    assert "--fresh" in stderr


def test_fresh_discards_the_incompatible_checkpoint(fitted_rank_2: tuple[Path, Path], tmp_path: Path) -> None:
    source, out = fitted_rank_2
    code, _, stderr = run_cli(
        "fit", str(source), "--out", str(tmp_path), "--resume", str(_last_checkpoint(out)), "--rank", "3", *TINY
    )
    assert code == 2 and "incompatible model" in stderr
    code, stdout, stderr = run_cli("fit", str(source), "--out", str(out), "--overwrite", "--fresh", "--rank", "3", *TINY)
    assert code == 0, stderr
    assert "resuming" not in stderr and Path(stdout.splitlines()[-1]).exists()
    state = torch.load(_last_checkpoint(out), weights_only=True)["state_dict"]
    assert tuple(state["model.n"].shape) == (3, 8)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not a checkpoint"])
def test_unreadable_checkpoint_is_named(fitted_rank_2: tuple[Path, Path], tmp_path: Path, content: bytes) -> None:
    source, _ = fitted_rank_2
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(content)
    code, _, stderr = run_cli("fit", str(source), "--out", str(tmp_path / "out"), "--resume", str(broken), *TINY)
    assert code == 2 and f"checkpoint {broken} cannot be read" in stderr and "Traceback" not in stderr


def test_missing_resume_checkpoint_is_named(fitted_rank_2: tuple[Path, Path], tmp_path: Path) -> None:
    source, _ = fitted_rank_2
    missing = tmp_path / "nope.ckpt"
    code, _, stderr = run_cli("fit", str(source), "--out", str(tmp_path), "--resume", str(missing), *TINY)
    assert code == 2 and f"checkpoint {missing} does not exist" in stderr


# The child replaces last.ckpt through AtomicCheckpointIO but SIGKILLs itself once the new bytes are on disk and
# before the rename: the worst moment for a checkpoint writer.
KILLED_MID_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from nwb_dyn.training.checkpoint_io import AtomicCheckpointIO

    target = sys.argv[1]
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 1, "state_dict": {"w": torch.ones(1000)}}, target)
    os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
    io.save_checkpoint({"epoch": 2, "state_dict": {"w": torch.zeros(1000)}}, target)
    """
)


def test_kill_during_checkpoint_save_keeps_the_previous_last_ckpt(tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / "last.ckpt"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_MID_SAVE, str(target)], cwd=PROJECT_ROOT, capture_output=True, timeout=120, check=False
    )
    assert child.returncode == -9, child.stderr.decode()
    restored = torch.load(target, weights_only=True)
    assert restored["epoch"] == 1 and torch.equal(restored["state_dict"]["w"], torch.ones(1000))
