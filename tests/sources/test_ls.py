"""`nwb-dyn ls`: a dandiset's NWB assets with sizes, and per file what can be fitted, from metadata only."""

from __future__ import annotations

from pathlib import Path

import h5py

from tests.dandi_standin import DandiStandin
from tests.helpers import run_cli
from tests.sources.conftest import SYNTHETIC_PATHS


def _spike_count(path: Path) -> int:
    with h5py.File(path, "r") as handle:
        return len(handle["units/spike_times"])


def test_ls_dandiset_lists_assets_sizes_units_series_and_trials(standin: DandiStandin) -> None:
    code, stdout, stderr = run_cli("ls", "dandiset:000999")
    assert code == 0, stderr
    assets = standin.dandisets["000999"].versions["draft"]
    lines = stdout.splitlines()
    assert lines[0] == (
        f"DANDI:000999/draft on {standin.api_url}: 4 NWB asset(s), {sum(a.size for a in assets):,} bytes"
    )
    for index, asset in enumerate(a for a in assets if a.path in SYNTHETIC_PATHS):
        position = lines.index(f"{asset.path}  {asset.size:,} bytes  asset {asset.asset_id}")
        # written by write_units_session(num_units=4 + index, num_trials=6)
        assert lines[position + 1 : position + 4] == [
            f"  units: {4 + index} units, {_spike_count(asset.file)} spikes; columns spike_times",
            "  series: 0",
            "  trials: 6 rows; columns start_time, stop_time",
        ]
    assert "    acquisition/hand_vel  TimeSeries 600000x2  rate 1000 Hz  unit m/s" in lines
    assert sum(line.startswith("  default: units [ecephys]") for line in lines) == 4


def test_ls_of_a_url_reads_metadata_not_the_behaviour_data(
    standin: DandiStandin, standin_files: dict[str, Path]
) -> None:
    code, stdout, stderr = run_cli("ls", standin.file_url("behaviour.nwb"))
    assert code == 0, stderr
    assert "  units: 5 units, 1000 spikes; columns spike_times" in stdout.splitlines()
    # the 600000x2 float32 series is ~96% of the file; metadata and the spike index are a small part
    assert standin.traffic.blob_bytes < 0.1 * standin_files["behaviour"].stat().st_size


def test_ls_of_a_local_file(mc_maze_small: Path) -> None:
    code, stdout, stderr = run_cli("ls", str(mc_maze_small))
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == f"{mc_maze_small.resolve()}  {mc_maze_small.stat().st_size:,} bytes"
    assert lines[1] == f"  units: 107 units, {_spike_count(mc_maze_small)} spikes; columns " + (
        "heldout, spike_times, obs_intervals, electrodes"
    )
    assert "  trials: 100 rows; columns start_time, stop_time, move_onset_time, split" in lines
