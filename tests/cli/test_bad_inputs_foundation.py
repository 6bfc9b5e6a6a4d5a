"""Bad SOURCE inputs give one clear line naming the file, exit code 2, and no traceback."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from tests.helpers import empty_nwbfile, run_cli, write_nwb


def _fit(source: Path, out: Path) -> tuple[int, str]:
    code, _, stderr = run_cli("fit", str(source), "--out", str(out), "--max-epochs", "1")
    return code, stderr


def test_missing_path(tmp_path: Path) -> None:
    code, stderr = _fit(tmp_path / "nope.nwb", tmp_path / "out")
    assert code == 2 and "nope.nwb" in stderr and "no such file" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


def test_not_hdf5(tmp_path: Path) -> None:
    source = tmp_path / "notes.nwb"
    source.write_text("just text")
    code, stderr = _fit(source, tmp_path / "out")
    assert code == 2 and "notes.nwb" in stderr and "not an HDF5 file" in stderr and "Traceback" not in stderr


def test_hdf5_but_not_nwb(tmp_path: Path) -> None:
    source = tmp_path / "plain.h5"
    with h5py.File(source, "w") as handle:
        handle["x"] = [1, 2, 3]
    code, stderr = _fit(source, tmp_path / "out")
    assert code == 2 and "plain.h5" in stderr and "not an NWB file" in stderr and "Traceback" not in stderr


def test_nwb_without_units_or_series(tmp_path: Path) -> None:
    source = write_nwb(tmp_path / "empty.nwb", empty_nwbfile())
    code, stderr = _fit(source, tmp_path / "out")
    assert code == 2 and "empty.nwb" in stderr and "Units" in stderr and "Traceback" not in stderr


def test_truncated_hdf5(tmp_path: Path, mc_maze_small: Path) -> None:
    source = tmp_path / "truncated.nwb"
    source.write_bytes(mc_maze_small.read_bytes()[:50_000])
    code, stderr = _fit(source, tmp_path / "out")
    assert code == 2 and "truncated.nwb" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(
    ("option", "value", "key"),
    [("--bin-width", "-0.01", "data.bin_width_s"), ("--rank", "0", "lowrank.rank"), ("--max-epochs", "0", "max_epochs")],
)
def test_bad_option_values_name_the_key(tmp_path: Path, option: str, value: str, key: str) -> None:
    source = tmp_path / "any.nwb"
    code, _, stderr = run_cli("fit", str(source), "--out", str(tmp_path), option, value)
    assert code == 2 and key in stderr and "Traceback" not in stderr


def test_unknown_model(tmp_path: Path) -> None:
    code, _, stderr = run_cli("fit", str(tmp_path / "x.nwb"), "--model", "lstm", "--out", str(tmp_path))
    assert code == 2 and "model" in stderr and "lowrank" in stderr
