"""Extraction speed and peak memory on a long session: NWB → NeuralData for a 2-hour, 200-unit recording.

The synthetic session has Poisson spike trains (10 Hz mean, rates spread 2–18 Hz) observed over one epoch, no trials
table but a ``reaches`` TimeIntervals table (one 1.5 s reach every 2 s, with a ``move_onset_time``), and 2-D hand
position sampled at 1 kHz, once as a regular series (``rate``) and once with explicit, jittered ``timestamps``.
The file is written once into ``--workdir`` and reused.

The file is written, and each configuration extracted, in a fresh subprocess, so each peak resident memory
(``VmHWM``: the whole process, Python and pynwb included) is the extraction's own. Target: < 30 s and < 2 GB per configuration on 2 cores.
Prints one JSON object per configuration on stdout (progress on stderr).

    .venv/bin/python benchmarks/extract.py
    .venv/bin/python benchmarks/extract.py --hours 0.1 --units 20     # a quick check
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

#: name → DataConfig keyword arguments (behaviour paths are filled in from the file's layout)
CONFIGURATIONS: dict[str, dict[str, object]] = {
    "tiled_1s_20ms_targets_rate": {
        "bin_width_s": 0.02, "window_length_s": 1.0, "targets": ["processing/behavior/Position/hand"],
    },
    "reaches_aligned_5ms_inputs_timestamps": {
        "bin_width_s": 0.005, "intervals": "reaches", "align": "move_onset_time", "window_s": [-0.25, 0.45],
        "inputs": ["acquisition/hand_timestamped"], "targets": ["processing/behavior/Position/hand"],
    },
    "reaches_20ms_no_behaviour": {"bin_width_s": 0.02, "intervals": "reaches"},
}
TARGET_WALL_S = 30.0
TARGET_RSS_MB = 2048.0


def write_session(path: Path, hours: float, num_units: int, behaviour_hz: float, seed: int) -> None:
    """Write the synthetic long session to ``path`` (see the module docstring)."""
    import numpy as np
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import Position, SpatialSeries
    from pynwb.epoch import TimeIntervals

    rng = np.random.default_rng(seed)
    duration_s = hours * 3600.0
    nwbfile = NWBFile(
        session_description="synthetic long session for benchmarks/extract.py",
        identifier=f"extract-benchmark-{hours}h-{num_units}u",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    nwbfile.add_epoch(start_time=0.0, stop_time=duration_s)
    reaches = TimeIntervals(name="reaches", description="reach periods")
    reaches.add_column(name="move_onset_time", description="movement onset")
    for start in np.arange(0.0, duration_s - 2.0, 2.0):
        reaches.add_interval(start_time=start, stop_time=start + 1.5, move_onset_time=start + 0.5)
    nwbfile.add_time_intervals(reaches)
    for rate_hz in rng.uniform(2.0, 18.0, size=num_units):
        times = np.sort(rng.uniform(0.0, duration_s, size=rng.poisson(rate_hz * duration_s)))
        nwbfile.add_unit(spike_times=times, obs_intervals=[[0.0, duration_s]])
    num_samples = int(duration_s * behaviour_hz)
    steps = rng.normal(scale=1e-3, size=(num_samples, 2)).astype(np.float32)
    hand = np.cumsum(steps, axis=0, dtype=np.float32)
    behavior = nwbfile.create_processing_module(name="behavior", description="hand position")
    behavior.add(
        Position(
            spatial_series=SpatialSeries(
                name="hand", data=H5DataIO(hand, chunks=(65536, 2)), reference_frame="screen centre",
                rate=behaviour_hz, starting_time=0.0,
            )
        )
    )
    jitter = rng.uniform(-0.2, 0.2, size=num_samples) / behaviour_hz
    timestamps = np.arange(num_samples) / behaviour_hz + jitter
    nwbfile.add_acquisition(
        TimeSeries(
            name="hand_timestamped", data=H5DataIO(hand, chunks=(65536, 2)), unit="m",
            timestamps=H5DataIO(timestamps, chunks=(65536,)),
        )
    )
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` from ``/proc/self/status`` where there is one: unlike ``ru_maxrss``, it starts afresh at ``exec``, so a
    child does not inherit its parent's peak. Elsewhere ``ru_maxrss`` (kB on Linux).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(path: Path, name: str) -> dict[str, object]:
    """Extract ``path`` with configuration ``name`` in this process and report time, memory and shapes."""
    from pynwb import NWBHDF5IO

    from nwb_dyn.config import DataConfig
    from nwb_dyn.extract import extract_neural_data

    settings = DataConfig(**CONFIGURATIONS[name])
    settings.validate()
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with NWBHDF5IO(str(path), mode="r") as io:
        data = extract_neural_data(io.read(), settings, seed=0, label=path.name)
    wall_s = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = usage.ru_utime + usage.ru_stime - usage_before.ru_utime - usage_before.ru_stime
    peak_mb = peak_rss_mb()
    return {
        "benchmark": "extract",
        "configuration": name,
        "settings": CONFIGURATIONS[name],
        "values_shape": list(data.values.shape),
        "inputs_shape": None if data.inputs is None else list(data.inputs.shape),
        "targets_shape": None if data.targets is None else list(data.targets.shape),
        "spikes": int(data.values.sum()),
        "wall_s": round(wall_s, 3),
        "cpu_s": round(cpu_s, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_mb, 1),
        "torch_imported": "torch" in sys.modules,
        "torch_threads": None,
        "meets_target": wall_s < TARGET_WALL_S and peak_mb < TARGET_RSS_MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--behaviour-hz", type=float, default=1000.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/nwb-dyn-benchmark-extract"))
    parser.add_argument("--only", choices=sorted(CONFIGURATIONS), help="run one configuration")
    parser.add_argument("--measure", choices=sorted(CONFIGURATIONS), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_session(args.write, args.hours, args.units, args.behaviour_hz, seed=0)
        return
    if args.measure:
        print(json.dumps(measure(args.file, args.measure)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"session_v2_{args.hours:g}h_{args.units}u_{args.behaviour_hz:g}hz.nwb"
    if not path.exists():
        print(f"writing {path} ...", file=sys.stderr)
        partial = path.with_suffix(".partial.nwb")
        subprocess.run(
            [sys.executable, __file__, "--write", str(partial), "--hours", str(args.hours), "--units",
             str(args.units), "--behaviour-hz", str(args.behaviour_hz)],
            check=True,
        )
        partial.rename(path)
    for name in [args.only] if args.only else list(CONFIGURATIONS):
        print(f"extracting {name} ...", file=sys.stderr)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", name, "--file", str(path)],
            capture_output=True, text=True, check=False,
        )
        if child.returncode != 0:
            print(json.dumps({"benchmark": "extract", "configuration": name, "error": child.stderr[-2000:]}))
            continue
        result = json.loads(child.stdout.strip().splitlines()[-1])
        result.update(file_bytes=path.stat().st_size, hours=args.hours, units=args.units)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
