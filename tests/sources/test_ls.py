"""`nwb-dyn ls`: a dandiset's NWB assets with sizes, and per file what can be fitted, from metadata only."""

from __future__ import annotations

from pathlib import Path

from tests.dandi_standin import DandiStandin
from tests.helpers import run_cli
from tests.sources.conftest import SYNTHETIC_PATHS


def test_ls_dandiset_lists_assets_sizes_units_series_and_trials(standin: DandiStandin) -> None:
    code, stdout, stderr = run_cli("ls", "dandiset:000999")
    assert code == 0, stderr
    assets = standin.dandisets["000999"].versions["draft"]
    lines = stdout.splitlines()
    assert lines[0].startswith(f"DANDI:000999/draft on {standin.api_url}: 4 NWB asset(s), ")
    assert lines[0].endswith(f"{sum(a.size for a in assets):,} bytes")
    for index, asset in enumerate(a for a in assets if a.path in SYNTHETIC_PATHS):
        header = f"{asset.path}  {asset.size:,} bytes  asset {asset.asset_id}"
        position = lines.index(header)
        # write_units_session(num_units=4 + i, num_trials=6)
        assert lines[position + 1].startswith(f"  units: {4 + index} with ")
        assert lines[position + 2] == "  series: none"
        assert lines[position + 3] == "  trials: 6 rows; columns: start_time, stop_time"
    assert "    acquisition/hand_vel (TimeSeries): 600000x2, 1000 Hz from t=0 s, unit m/s" in lines


def test_ls_of_a_url_reads_metadata_not_the_behaviour_data(
    standin: DandiStandin, standin_files: dict[str, Path]
) -> None:
    code, stdout, stderr = run_cli("ls", standin.file_url("behaviour.nwb"))
    assert code == 0, stderr
    assert "  units: 5 with 1000 spikes, 200–200 per unit; other columns: none" in stdout.splitlines()
    # the 600000x2 float32 series is ~99% of the file; metadata and the spike index are a small part
    assert standin.traffic.blob_bytes < 0.1 * standin_files["behaviour"].stat().st_size


def test_ls_of_a_local_file(mc_maze_small: Path) -> None:
    code, stdout, stderr = run_cli("ls", str(mc_maze_small))
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == f"{mc_maze_small.resolve()}  {mc_maze_small.stat().st_size:,} bytes"
    assert lines[1].startswith("  units: 107 with ")
    assert lines[-1].startswith("  trials: 100 rows; columns: start_time, stop_time, ")
    assert "move_onset_time" in lines[-1] and "split" in lines[-1]
