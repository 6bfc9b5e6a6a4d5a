"""Every script in examples/ runs as a newcomer would run it (a subprocess), at a tiny size, and prints its results.

Each test asserts on the printed `key: value` lines and on the files they name, not merely on the exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nwb_dyn.results import read
from tests.conftest import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples"
TINY = ("--max-epochs", "1", "--trials", "4", "--steps", "40")


def run_example(script: str, *arguments: str) -> dict[str, str]:
    """Run examples/SCRIPT with ARGUMENTS; return its printed ``key: value`` lines as a dict."""
    environment = {**os.environ, "NWB_DYN_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *arguments],
        check=False,
        capture_output=True,
        text=True,
        env=environment,
        cwd=PROJECT_ROOT,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [line.split(": ", 1) for line in completed.stdout.splitlines() if ": " in line]
    return {key: value for key, value in lines}


@pytest.fixture(scope="module")
def lorenz_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return run_example("switching_lorenz.py", "--out", str(tmp_path_factory.mktemp("lorenz")), *TINY)


def test_switching_lorenz_scores_states_and_latents(lorenz_output: dict[str, str]) -> None:
    result = read(lorenz_output["output"])
    assert result.stored_model.family == "srnn" and result.num_states == 2
    assert result.states.shape == (4 * 40,)
    assert (
        0.5 <= float(lorenz_output["state accuracy"]) <= 1.0
    )  # best relabelling of 2 states is never below 0.5
    assert -1.0 <= float(lorenz_output["latent recovery r2"]) <= 1.0


def test_read_with_pynapple_lists_rates_per_state(lorenz_output: dict[str, str]) -> None:
    printed = run_example("read_with_pynapple.py", lorenz_output["output"])
    result = read(lorenz_output["output"])
    assert printed["latents"].startswith(f"TsdFrame of 160 bins x {result.latents.shape[1]} dims")
    assert printed["fit windows"] == "4"
    assert int(printed["state segments"]) == len(result.segments.state)
    shown = sorted(key for key in printed if key.startswith("state ") and key != "state segments")
    assert shown == [f"state {s}" for s in np.unique(result.segments.state)]


def test_teacher_student_compares_fixed_points(tmp_path: Path) -> None:
    printed = run_example("teacher_student.py", "--out", str(tmp_path), *TINY)
    student = read(printed["output"])
    assert student.stored_model.family == "lowrank" and student.latents.shape == (4 * 40, 2)
    assert printed["teacher fixed points"] == "3 (1 stable)"  # the seeded teacher, enumerated exactly
    count = 0 if student.fixed_points is None else student.fixed_points.num_points
    assert printed["student fixed points"].startswith(f"{count} (")


def test_demo_runs_end_to_end_and_prints_its_scores(tmp_path: Path) -> None:
    """Plumbing only (a capped smoke run): whether default fits recover switching states is asserted against a
    baseline in tests/validity/test_default_fits.py."""
    printed = run_example("demo.py", "--out", str(tmp_path), "--trials", "4", "--steps", "40", "--max-steps", "2")
    result = read(printed["output"])
    assert result.latents.shape[0] == 4 * 40 and result.num_states == 2
    assert "discrete-state accuracy (after optimal label matching, chance 0.5)" in printed
    assert "state switches" in printed
    assert "NOT converged (stopped by max_steps)" in printed["nwb-dyn"]  # the fit's quality line, shown by the demo
    assert "latent recovery (affine R² against the true Lorenz state)" in printed


def test_mc_maze_small_fits_and_writes_the_report(mc_maze_small: Path, tmp_path: Path) -> None:
    printed = run_example(
        "mc_maze_small.py",
        "--source",
        str(mc_maze_small),
        "--out",
        str(tmp_path),
        "--max-epochs",
        "1",
        "--units",
        "16",
        "--particles",
        "2",
    )
    assert printed["windows"] == "100"  # every trial of the test split, aligned on movement onset
    assert np.isfinite(float(printed["val_heldin_bps"]))  # metrics name the split they were scored on
    index = Path(printed["report"])
    assert index.name == "index.html" and (index.parent / "flow_field.png").stat().st_size > 0
