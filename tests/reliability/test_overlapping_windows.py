"""Windows that overlap in time cannot be written along the session clock: a clear error before any training."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers import empty_nwbfile, run_cli, write_nwb


def _session_with_close_events(path: Path) -> Path:
    rng = np.random.default_rng(0)
    nwbfile = empty_nwbfile()
    nwbfile.add_trial_column(name="go_time", description="go cue")
    for trial in range(8):
        nwbfile.add_trial(start_time=1.0 * trial, stop_time=1.0 * trial + 0.9, go_time=1.0 * trial + 0.5)
    for _ in range(4):
        nwbfile.add_unit(spike_times=np.sort(rng.uniform(0, 8.0, size=200)))
    return write_nwb(path, nwbfile)


def test_overlapping_aligned_windows_are_refused_before_training(tmp_path: Path) -> None:
    source = _session_with_close_events(tmp_path / "close.nwb")
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        "fit", str(source), "--out", str(out), "--align", "go_time", "--window", "-0.8", "0.8", "--bin-width", "0.1"
    )
    assert code == 2 and stdout == ""
    assert "close.nwb" in stderr and "overlap" in stderr and "--window" in stderr and "Traceback" not in stderr
    assert not (out / ".nwb-dyn-runs").exists()  # nothing was trained


def test_adjacent_windows_are_fine(tmp_path: Path) -> None:
    source = _session_with_close_events(tmp_path / "close.nwb")
    code, stdout, stderr = run_cli(
        "fit", str(source), "--out", str(tmp_path / "out"), "--align", "go_time", "--window", "-0.5", "0.5",
        "--bin-width", "0.1", "--max-epochs", "1", "--units", "8", "--particles", "4",
    )
    assert code == 0, stderr
    assert Path(stdout.strip().splitlines()[-1]).exists()
