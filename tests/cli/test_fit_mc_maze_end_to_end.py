"""The essential path on real data: MC_Maze_Small NWB → `nwb-dyn fit` → derived NWB → read back and inspected."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_dyn.results import read
from tests.conftest import sha256
from tests.helpers import run_cli
from tests.nwb_checks import assert_output_clean


@pytest.fixture(scope="module")
def fitted(mc_maze_small: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, float]:
    out = tmp_path_factory.mktemp("fit")
    before = sha256(mc_maze_small), os.stat(mc_maze_small).st_mtime
    code, stdout, stderr = run_cli(
        "fit", str(mc_maze_small), "--model", "lowrank", "--out", str(out), "--max-epochs", "2"
    )
    assert code == 0, stderr
    return Path(stdout.strip().splitlines()[-1]), before[0], sha256(mc_maze_small), before[1]


def test_output_path_is_last_stdout_line_and_exists(fitted: tuple[Path, str, str, float]) -> None:
    output = fitted[0]
    assert output.suffix == ".nwb" and output.exists()
    assert output.name == "sub-Jenkins_ses-small_desc-test-lowrank_ecephys.nwb"


def test_latents_have_one_row_per_bin_inside_trials(fitted: tuple[Path, str, str, float], mc_maze_small: Path) -> None:
    with NWBHDF5IO(str(fitted[0]), mode="r") as io:
        result = io.read()
        latents = result.processing["misc"]["latents"]
        data = np.asarray(latents.data[:])
        timestamps = np.asarray(latents.timestamps[:])
        windows = result.processing["misc"]["fit_windows"].to_dataframe()
    with NWBHDF5IO(str(mc_maze_small), mode="r") as io:
        trials = io.read().trials.to_dataframe()
    bins_per_window = round(0.7 / 0.02)
    assert data.shape[0] == len(trials) * bins_per_window and data.shape[1] == read(fitted[0]).model.rank
    assert len(timestamps) == len(data) and np.all(np.diff(timestamps) > 0)
    starts, stops = trials["start_time"].to_numpy(), trials["stop_time"].to_numpy()
    row = np.searchsorted(starts, timestamps, side="right") - 1
    assert np.all(row >= 0) and np.all(timestamps < stops[row])
    assert len(windows) == len(trials) and np.all(np.isfinite(data))


def test_output_validates_and_nwbinspector_reports_nothing_at_or_above_violation(
    fitted: tuple[Path, str, str, float],
) -> None:
    assert_output_clean(fitted[0])


def test_result_reads_back_with_units_fixed_points_and_a_rebuildable_model(
    fitted: tuple[Path, str, str, float], mc_maze_small: Path
) -> None:
    result = read(fitted[0])
    with NWBHDF5IO(str(mc_maze_small), mode="r") as io:
        source_unit_ids = np.asarray(io.read().units.id[:])
    np.testing.assert_array_equal(result.units_ids, source_unit_ids)
    assert result.fixed_points is not None and result.fixed_points.location.shape[1] == result.model.rank
    chosen = result.stored_model.training_summary["rank_choice"]  # the default rank is read off the data
    assert chosen["requested"] == "auto" and result.model.rank == chosen["rank"] >= 2 and result.provenance["source"]["sha256"] == fitted[1]


def test_source_bytes_and_mtime_unchanged(fitted: tuple[Path, str, str, float], mc_maze_small: Path) -> None:
    _, before, after, mtime_before = fitted
    assert before == after == "ca8a0bef5f189eafb9db1961d617e065cb461360718fde1c16a538922a6fa5fe"
    assert os.stat(mc_maze_small).st_mtime == mtime_before


def test_no_partial_files_left_in_output_directory(fitted: tuple[Path, str, str, float]) -> None:
    assert not [p for p in fitted[0].parent.iterdir() if p.name.endswith(".partial.nwb")]
