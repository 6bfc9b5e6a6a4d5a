"""Streaming a large MC_Maze-shaped NWB file from the DANDI stand-in: bytes and requests of a first and a cached fit.

The file (≈ 690 MB: 180 units over 2 hours, ~2,400 trials, four two-channel behaviour series at 1 kHz with
timestamps, like MC_Maze's 690 MB train file) is written once under ``--workdir`` and served by ``tests/dandi_standin.py`` as
dandiset 000128. ``nwb-dyn fit dandiset:000128@VERSION`` on units + trials then runs twice with one cache directory;
the stand-in counts what it served. Stage ``extract`` times resolving + streaming + binning alone (what the network
costs); stage ``fit`` the whole command with a tiny model. One JSON object per (stage, run) on stdout:

    .venv/bin/python benchmarks/streaming.py [--stage extract|fit|both] [--workdir /tmp/nwb-dyn-streaming]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VERSION = "0.220113.0400"
ASSET_PATH = "sub-Jenkins/sub-Jenkins_ses-full_desc-train_behavior+ecephys.nwb"


def write_large_session(path: Path, num_units: int, duration_s: float, seed: int = 0) -> Path:
    """An MC_Maze-shaped session: Poisson units (~3 Hz), 0.7 s trials every 3 s, four (T, 2) float64 series with
    1 kHz timestamps (MC_Maze's train file: 182 units, 2,295 trials, ≈2 h, 690 MB)."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries

    rng = np.random.default_rng(seed)
    nwbfile = NWBFile(
        session_description="synthetic MC_Maze-shaped session for the streaming benchmark",
        identifier="nwb-dyn-streaming-benchmark",
        session_start_time=datetime.datetime(2022, 1, 13, tzinfo=datetime.timezone.utc),
    )
    nwbfile.add_trial_column("move_onset_time", "movement onset, seconds")
    for start in np.arange(1.0, duration_s - 3.0, 3.0):
        nwbfile.add_trial(start_time=start, stop_time=start + 0.7, move_onset_time=start + 0.25)
    for _ in range(num_units):
        # MC_Maze's units fire ~3 Hz on average (Small train: 131,669 spikes, 142 units, 294 s)
        count = rng.poisson(rng.gamma(2.0, 1.6) * duration_s)
        nwbfile.add_unit(spike_times=np.sort(rng.uniform(0.0, duration_s, size=count)))
    behavior = nwbfile.create_processing_module("behavior", "hand, cursor and eye at 1 kHz")
    series = BehavioralTimeSeries(name="behavior_series")
    samples = int(duration_s * 1000)
    for name in ("hand_pos", "hand_vel", "cursor_pos", "eye_pos"):
        walk = np.cumsum(rng.standard_normal((samples, 2)), axis=0)
        # like MC_Maze, each series carries its own 1 kHz timestamps
        timestamps = np.arange(samples) / 1000.0
        series.add_timeseries(TimeSeries(name=name, data=walk, unit="mm", timestamps=timestamps))
    behavior.add(series)
    partial = path.with_name(path.stem + ".partial.nwb")
    with NWBHDF5IO(str(partial), mode="w") as io:
        io.write(nwbfile)
    partial.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "nwb-dyn-streaming")
    parser.add_argument("--units", type=int, default=180)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--max-epochs", type=int, default=1)
    parser.add_argument(
        "--stage",
        choices=("extract", "fit", "both"),
        default="both",
        help="extraction only, whole fit, or both",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(PROJECT_ROOT))  # the stand-in lives with the tests
    os.environ.setdefault("DANDI_NO_ET", "1")
    import torch

    from tests.dandi_standin import DandiStandin, StandinAsset, StandinDandiset

    torch.set_num_threads(1)
    args.workdir.mkdir(parents=True, exist_ok=True)
    nwb_path = args.workdir / f"mc_maze_like_{args.units}u_{args.hours:g}h_v2.nwb"
    if not nwb_path.exists():
        print(f"writing {nwb_path} ...", file=sys.stderr)
        write_large_session(nwb_path, args.units, args.hours * 3600.0)
    size = nwb_path.stat().st_size
    cache_dir = args.workdir / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    asset = StandinAsset(ASSET_PATH, nwb_path)
    with DandiStandin([StandinDandiset("000128", {"draft": [asset], VERSION: [asset]})]) as standin:
        for stage in ("extract", "fit") if args.stage == "both" else (args.stage,):
            shutil.rmtree(cache_dir, ignore_errors=True)
            for run in ("first", "cached"):
                standin.reset_traffic()
                started = time.perf_counter()
                if stage == "extract":
                    extract_only(standin.api_url, cache_dir)
                else:
                    fit_small_model(standin.api_url, cache_dir, args.workdir / "out", args.max_epochs)
                wall_s = time.perf_counter() - started
                record = {
                    "benchmark": "streaming",
                    "stage": stage,
                    "run": run,
                    "source": "units+trials",
                    "file_bytes": size,
                    "bytes_fetched": standin.traffic.blob_bytes,
                    "fraction_fetched": round(standin.traffic.blob_bytes / size, 5),
                    "requests": standin.traffic.requests,
                    "range_requests": standin.traffic.blob_requests,
                    "wall_s": round(wall_s, 2),
                    "max_epochs": args.max_epochs if stage == "fit" else 0,
                    "torch_threads": torch.get_num_threads(),
                }
                print(json.dumps(record), flush=True)


def extract_only(api_url: str, cache_dir: Path) -> None:
    """Resolve the pinned asset and extract (or load from the cache) its binned units + trials, as ``fit`` does."""
    from nwb_dyn.api import _session_data
    from nwb_dyn.config import resolve_config
    from nwb_dyn.extract.cache import ExtractionCache
    from nwb_dyn.sources import SourceOptions, resolve_sources

    options = SourceOptions(dandi_api_url=api_url, cache_dir=cache_dir)
    (ref,) = resolve_sources(f"dandiset:000128@{VERSION}", options)
    _session_data(ref, resolve_config(None, {}), ExtractionCache(cache_dir / "extracted"))


def fit_small_model(api_url: str, cache_dir: Path, out: Path, max_epochs: int) -> None:
    """The whole ``nwb-dyn fit`` (fresh each time, so the second run does not resume the first)."""
    from nwb_dyn.api import fit

    fit(
        f"dandiset:000128@{VERSION}",
        model="lowrank",
        out=out,
        overwrite=True,
        fresh=True,
        dandi_api_url=api_url,
        cache_dir=cache_dir,
        max_epochs=max_epochs,
        rank=2,
        units=16,
        particles=4,
        num_threads=1,
    )


if __name__ == "__main__":
    main()
