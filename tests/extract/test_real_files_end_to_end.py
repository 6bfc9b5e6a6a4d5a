"""Every real NWB file in ../shared/data: ``nwb-dyn ls`` names a sensible default and ``fit`` runs on it end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from tests.conftest import SHARED_DIR
from tests.extract.builders import add_fluorescence
from tests.helpers import empty_nwbfile, run_cli, write_nwb
from tests.nwb_checks import assert_output_clean

REAL_FILES = sorted((SHARED_DIR / "data").glob("*/*.nwb")) if SHARED_DIR.is_dir() else []
FAST = ("--max-epochs", "1", "--rank", "2", "--particles", "4")
#: Bin width per file (seconds): coarse bins keep one epoch over the 2,821 s of DANDI:000207 to a few seconds of CPU.
BIN_WIDTH_S = {"mc_maze_small": 0.1, "dandi000207_sub4_ses4": 0.5}


@pytest.fixture(params=REAL_FILES, ids=lambda path: path.parent.name)
def real_file(request: pytest.FixtureRequest, shared_dir: Path) -> Path:
    return request.param


def test_there_are_real_files_to_check(shared_dir: Path) -> None:
    assert len(REAL_FILES) >= 2


def test_ls_names_the_units_as_default_with_a_reason(real_file: Path) -> None:
    code, stdout, stderr = run_cli("ls", str(real_file))
    assert code == 0, stderr
    default = [line.strip() for line in stdout.splitlines() if line.strip().startswith("default:")]
    assert len(default) == 1 and default[0].startswith("default: units [ecephys]") and "spikes" in default[0]


def test_fit_runs_end_to_end_with_the_default_choice(real_file: Path, tmp_path: Path) -> None:
    width = BIN_WIDTH_S.get(real_file.parent.name, 0.1)
    options = ("--bin-width", str(width), "--window-length", str(20 * width))
    code, stdout, stderr = run_cli("fit", str(real_file), "--out", str(tmp_path), *FAST, *options)
    assert code == 0, stderr
    output = Path(stdout.strip().splitlines()[-1])
    assert output.name.endswith("_ecephys.nwb")
    assert_output_clean(output)
    with NWBHDF5IO(str(output), mode="r") as io:
        result = io.read()
        latents = np.asarray(result.processing["misc"]["latents"].data[:])
        windows = result.processing["misc"]["fit_windows"].to_dataframe()
    bins_per_window = round((windows["stop_time"] - windows["start_time"]).iloc[0] / width)
    assert latents.shape == (len(windows) * bins_per_window, 2) and np.isfinite(latents).all()


def test_calcium_imaging_session_is_fitted_as_ophys(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nwbfile = empty_nwbfile()
    add_fluorescence(nwbfile, rng.normal(size=(600, 3)).astype(np.float32), 30.0)
    source = write_nwb(tmp_path / "sub-mouse_ses-1_ophys.nwb", nwbfile)
    options = ("--bin-width", "0.1", "--window-length", "2")
    code, stdout, stderr = run_cli("fit", str(source), "--out", str(tmp_path / "out"), *FAST, *options)
    assert code == 0, stderr
    output = Path(stdout.strip().splitlines()[-1])
    assert output.name == "sub-mouse_ses-1_desc-lowrank_ophys.nwb"
    assert_output_clean(output)
    with NWBHDF5IO(str(output), mode="r") as io:
        rates = io.read().processing["misc"]["rates"]
        assert rates.data.shape == (10 * 20, 3)
