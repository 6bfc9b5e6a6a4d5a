"""Time and memory of everything a fit does after training, against the training itself.

After ``trainer.fit`` a fit computes the posterior over every window and free-running samples (``summarise``), the
fixed points, the k-step and forward-tail forecasts, the metrics, and writes the output file. This benchmark runs
``nwb_dyn.fit`` as users do and times each of those stages, the training, and the peak resident memory (of the
whole process, up to the end of training, and when each stage ended), in a fresh process per configuration with
``--threads`` threads (default 1, so training and post-fit compare on the same footing). It prints one
JSON object per configuration; the target is ``postfit_fraction`` (post-fit seconds / training seconds) ≤ 0.25 and,
for ``--synthetic-hour``, ``peak_rss_mib`` < 4096.

    python benchmarks/postfit.py --source ../shared/data/dandi000207_sub4_ses4/sub-4_ses-4_ecephys+image.nwb
    python benchmarks/postfit.py --source FILE --intervals encoding_table --max-steps 400
    python benchmarks/postfit.py --synthetic-hour        # 1 h, 200 units, 5 ms bins, written as NWB first
    python benchmarks/postfit.py --source FILE --profile # also the 25 slowest functions after training (stderr)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NWB_DYN_NUM_THREADS")
SYNTHETIC_HOUR = {"duration_s": 3600.0, "units": 200, "bin_width_s": 0.005, "rate_hz": 8.0}


def write_synthetic_session(path: Path, duration_s: float, units: int, bin_width_s: float, rate_hz: float) -> Path:
    """A whole-session NWB file (no trials) of ``units`` Poisson units driven by 3 slow latents (1 s time scale),
    mean ``rate_hz``; spikes placed uniformly inside their ``bin_width_s`` bins."""
    import datetime
    import uuid

    import numpy as np
    from pynwb import NWBHDF5IO, NWBFile
    from scipy.signal import lfilter

    rng = np.random.default_rng(0)
    bins = round(duration_s / bin_width_s)
    steps = rng.standard_normal((bins, 3)) * np.sqrt(2 * bin_width_s)
    latents = lfilter([1.0], [1.0, -(1.0 - bin_width_s)], steps, axis=0).astype(np.float32)  # AR(1), τ = 1 s
    nwbfile = NWBFile(
        session_description="synthetic whole session for benchmarks/postfit.py",
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    readout = rng.standard_normal((3, units)).astype(np.float32) / np.sqrt(3)
    for unit in range(units):
        log_rate = latents @ readout[:, unit]
        counts = rng.poisson(rate_hz * bin_width_s * np.exp(log_rate - log_rate.mean()))
        spike_bins = np.repeat(np.arange(bins), counts)
        nwbfile.add_unit(spike_times=(spike_bins + rng.uniform(size=spike_bins.size)) * bin_width_s)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(source: str, options: dict, profile: bool) -> dict:
    """One fit with every post-fit stage timed (wrapping the functions ``nwb_dyn.api`` calls)."""
    import cProfile
    import pstats
    import time

    import pytorch_lightning as pl

    import nwb_dyn
    import nwb_dyn.evaluate as evaluate_module
    import nwb_dyn.results.writer as writer_module
    from nwb_dyn.results import read
    from nwb_dyn.training import families

    seconds: dict[str, float] = {}
    peaks: dict[str, float] = {}  # the process's peak RSS (MiB) when each stage ended
    marks: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
                peaks[name] = round(_peak_mib(), 1)

        return wrapper

    model = options.get("model", "lowrank")
    family = families.FAMILIES[model]
    families.FAMILIES[model] = type(family)(
        family.name, family.build, timed("summarise", family.summarise), timed("forecast", family.forecast)
    )
    for name in ("lowrank_posterior",):
        setattr(families, name, timed(name, getattr(families, name)))
    evaluate_module.fit_metrics = timed("fit_metrics", evaluate_module.fit_metrics)
    writer_module.write_result = timed("write_result", writer_module.write_result)
    profiler = cProfile.Profile() if profile else None
    train = pl.Trainer.fit

    def fit_and_mark(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return train(self, *args, **kwargs)
        finally:
            marks["training_end"] = time.perf_counter()
            seconds["training"] = marks["training_end"] - started
            marks["peak_after_training_mib"] = _peak_mib()
            if profiler is not None:
                profiler.enable()

    pl.Trainer.fit = fit_and_mark
    with tempfile.TemporaryDirectory() as out:
        outcome = nwb_dyn.fit(source, out=out, **options)
        finished = time.perf_counter()
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        result = read(outcome.outputs[0])
        summary = result.stored_model.training_summary
        shape = list(result.latents.data.shape) if hasattr(result, "latents") else None
    postfit = finished - marks["training_end"]
    return {
        "benchmark": "postfit",
        "source": Path(source).name,
        "threads": int(os.environ.get("NWB_DYN_NUM_THREADS", "0")) or None,
        "options": options,
        "training_s": round(seconds["training"], 2),
        "postfit_s": round(postfit, 2),
        "postfit_fraction": round(postfit / seconds["training"], 3),
        "stages_s": {name: round(value, 2) for name, value in seconds.items() if name != "training"},
        "fixed_point_search": summary.get("fixed_point_search"),
        "peak_rss_mib": round(_peak_mib(), 1),
        "peak_rss_after_training_mib": round(marks["peak_after_training_mib"], 1),
        "peak_rss_after_stage_mib": peaks,
        "latents_shape": shape,
    }


def _parse_options(args: argparse.Namespace) -> dict:
    options = {"model": args.model, "bin_width": args.bin_width}
    for name in ("max_steps", "max_epochs", "intervals", "window_length", "rank", "units", "particles"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    if args.no_init_from_data:
        options["init_from_data"] = False
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="an NWB session to fit")
    parser.add_argument("--synthetic-hour", action="store_true", help="1 h, 200 units, 5 ms bins, written first")
    parser.add_argument("--model", default="lowrank")
    parser.add_argument("--bin-width", type=float, default=0.02)
    parser.add_argument("--max-steps", type=int, default=200, help="training steps (default 200)")
    parser.add_argument("--max-epochs", type=int)
    parser.add_argument("--intervals")
    parser.add_argument("--window-length", type=float)
    parser.add_argument("--rank", type=int)
    parser.add_argument("--units", type=int)
    parser.add_argument("--particles", type=int)
    parser.add_argument("--no-init-from-data", action="store_true", help="start from the default initialisation")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
    parser.add_argument("--profile", action="store_true", help="print the slowest post-fit functions to stderr")
    parser.add_argument("--in-process", action="store_true", help="measure here, not in a fresh subprocess")
    args = parser.parse_args()
    if args.synthetic_hour:
        if args.source is None:
            work = Path(tempfile.mkdtemp(prefix="postfit-"))
            print(f"writing the synthetic session under {work}", file=sys.stderr)
            args.source = str(write_synthetic_session(work / "hour.nwb", **SYNTHETIC_HOUR))
        args.bin_width = SYNTHETIC_HOUR["bin_width_s"]
    if args.source is None:
        parser.error("pass --source FILE or --synthetic-hour")
    options = _parse_options(args)
    if args.in_process:
        print(json.dumps(measure(args.source, options, args.profile)), flush=True)
        return
    command = [sys.executable, __file__, "--in-process", "--source", args.source]
    command += [item for name, value in vars(args).items() if name not in ("source", "synthetic_hour", "in_process")
                for item in _flag(name, value)]
    threads = {name: str(args.threads) for name in THREAD_VARIABLES}
    subprocess.run(command, check=True, env={**os.environ, **threads})


def _flag(name: str, value) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if value is None or value is False:
        return []
    return [flag] if value is True else [flag, str(value)]


if __name__ == "__main__":
    main()
