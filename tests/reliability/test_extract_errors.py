"""Bad extraction inputs: one line on stderr naming the file and the field, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb.misc import Units

from tests.extract.builders import add_acquisition_series, add_position
from tests.helpers import empty_nwbfile, error_line, run_cli, write_nwb, write_units_session

DANDI_000207 = Path("data") / "dandi000207_sub4_ses4" / "sub-4_ses-4_ecephys+image.nwb"


def _fit_error(source: Path, tmp_path: Path, *options: str) -> str:
    code, _, stderr = run_cli("fit", str(source), "--out", str(tmp_path / "out"), "--max-epochs", "1", *options)
    assert code == 2, stderr
    return error_line(stderr)


def test_series_full_of_nan(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    add_acquisition_series(nwbfile, "broken", np.full((500, 2), np.nan), rate=100.0)
    source = write_nwb(tmp_path / "nan.nwb", nwbfile)
    stderr = _fit_error(source, tmp_path, "--series", "acquisition/broken")
    assert "nan.nwb" in stderr and "acquisition/broken" in stderr and "NaN" in stderr


def test_empty_units_table(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.units = Units(name="units")
    source = write_nwb(tmp_path / "nounits.nwb", nwbfile)
    stderr = _fit_error(source, tmp_path)
    assert "nounits.nwb" in stderr and "Units" in stderr


def test_units_without_any_spike(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.add_unit(spike_times=[])
    nwbfile.add_unit(spike_times=[])
    source = write_nwb(tmp_path / "silent.nwb", nwbfile)
    stderr = _fit_error(source, tmp_path)
    assert "silent.nwb" in stderr and "spike" in stderr


def test_zero_length_trial(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.add_trial(start_time=0.0, stop_time=1.0)
    nwbfile.add_trial(start_time=2.0, stop_time=2.0)
    nwbfile.add_unit(spike_times=np.linspace(0, 3, 50))
    source = write_nwb(tmp_path / "zero.nwb", nwbfile)
    stderr = _fit_error(source, tmp_path)
    assert "zero.nwb" in stderr and "row 1 of the trials table" in stderr and "stop_time" in stderr


def test_window_outside_the_data(tmp_path: Path, mc_maze_small: Path) -> None:
    stderr = _fit_error(mc_maze_small, tmp_path, "--align", "move_onset_time", "--window", "500", "501")
    assert mc_maze_small.name in stderr and "no window lies inside" in stderr and "--window" in stderr


def test_unknown_align_column(tmp_path: Path, mc_maze_small: Path) -> None:
    stderr = _fit_error(mc_maze_small, tmp_path, "--align", "go_cue_time", "--window", "-0.1", "0.1")
    assert mc_maze_small.name in stderr and "no column 'go_cue_time'" in stderr and "move_onset_time" in stderr


def test_unknown_series_path_lists_the_series(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    add_acquisition_series(nwbfile, "signal", np.zeros((100, 1)), rate=10.0)
    source = write_nwb(tmp_path / "one.nwb", nwbfile)
    stderr = _fit_error(source, tmp_path, "--series", "acquisition/ElectricalSeries")
    assert "one.nwb" in stderr and "--series acquisition/ElectricalSeries" in stderr and "acquisition/signal" in stderr


def test_unknown_units_column(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "units.nwb")
    stderr = _fit_error(source, tmp_path, "--units-where", "quality == 'good'")
    assert "units.nwb" in stderr and "--units-where" in stderr and "no column 'quality'" in stderr


def test_units_where_never_runs_code(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "units.nwb")
    marker = tmp_path / "pwned"
    stderr = _fit_error(source, tmp_path, "--units-where", f"__import__('os').system('touch {marker}')")
    assert "--units-where" in stderr and not marker.exists()


def test_non_monotonic_timestamps(tmp_path: Path, shared_dir: Path) -> None:
    source = shared_dir / DANDI_000207
    stderr = _fit_error(source, tmp_path, "--series", "acquisition/events")
    assert source.name in stderr and "acquisition/events" in stderr and "not monotonic" in stderr


@pytest.mark.parametrize("width", ["0", "-0.02"])
def test_zero_or_negative_bin_width(tmp_path: Path, width: str) -> None:
    source = write_units_session(tmp_path / "units.nwb")
    stderr = _fit_error(source, tmp_path, "--bin-width", width)
    assert "data.bin_width_s" in stderr and "> 0" in stderr


def test_bin_width_longer_than_the_trials(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "units.nwb")  # trials of 1 s
    stderr = _fit_error(source, tmp_path, "--bin-width", "0.75")
    assert "units.nwb" in stderr and "fewer than 2 bins" in stderr and "--bin-width" in stderr


def test_unknown_intervals_table_lists_the_tables(tmp_path: Path, shared_dir: Path) -> None:
    source = shared_dir / DANDI_000207
    stderr = _fit_error(source, tmp_path, "--intervals", "encoding")
    assert source.name in stderr and "--intervals encoding" in stderr and "encoding_table" in stderr


def test_align_without_trials_points_to_intervals(tmp_path: Path, shared_dir: Path) -> None:
    source = shared_dir / DANDI_000207
    stderr = _fit_error(source, tmp_path, "--align", "fixcross_time", "--window", "0", "1")
    assert source.name in stderr and "no trials table" in stderr and "--intervals" in stderr


def test_behaviour_that_does_not_cover_the_windows(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    for trial in range(4):
        nwbfile.add_trial(start_time=trial * 1.0, stop_time=trial * 1.0 + 0.5)
    nwbfile.add_unit(spike_times=np.linspace(0, 4, 80))
    path = add_position(nwbfile, np.zeros((150, 2)), 100.0)  # 1.5 s of behaviour for 4 trials
    source = write_nwb(tmp_path / "short.nwb", nwbfile)
    stderr = _fit_error(source, tmp_path, "--targets", path)
    assert "short.nwb" in stderr and f"--targets {path}" in stderr and "window 2" in stderr


def test_text_column_cannot_be_aligned_on(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.add_trial_column(name="condition", description="reach target")
    for trial in range(3):
        nwbfile.add_trial(start_time=trial * 1.0, stop_time=trial * 1.0 + 0.5, condition=f"target-{trial}")
    nwbfile.add_unit(spike_times=np.linspace(0, 3, 50))
    source = write_nwb(tmp_path / "text.nwb", nwbfile)
    stderr = _fit_error(source, tmp_path, "--align", "condition", "--window", "0", "0.5")
    assert "text.nwb" in stderr and "trials column 'condition'" in stderr and "not times" in stderr


def test_series_and_units_where_together_are_refused(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "units.nwb")
    stderr = _fit_error(source, tmp_path, "--series", "acquisition/x", "--units-where", "id > 2")
    assert "--units-where" in stderr and "--series" in stderr and "only one" in stderr
