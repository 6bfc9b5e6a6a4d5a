"""Speed and memory of the exact fixed-point enumeration on random ReLU low-rank networks.

Prints one JSON object per configuration (rank R ∈ {2, 3}, units N ∈ {64, …, 1024}): wall and CPU seconds, peak
resident memory of a fresh process running only that configuration, and the counts the enumeration reports. Every
configuration runs in its own subprocess with one BLAS thread, so the peak RSS is its own.

    python benchmarks/fixed_points.py                      # the whole grid
    python benchmarks/fixed_points.py --units 512 --rank 3  # one configuration
    python benchmarks/fixed_points.py --activation clipped_relu --units 128 256 --rank 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

UNITS = (64, 128, 256, 512, 1024)
RANKS = (2, 3)
SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def measure(units: int, rank: int, seed: int, activation: str) -> dict:
    """Time one enumeration on a random network: m ~ N(0, 1), bias ~ N(0, 1), and the model's scaled
    n = (Δt/τ) ñ with Δt/τ = 0.1 (decay 0.9) and ñ ~ N(0, 4/N)."""
    import resource
    import time
    from math import comb

    import numpy as np

    from nwb_dyn.analysis.fixed_points import discrete_time_fixed_points

    rng = np.random.default_rng(seed)
    m = rng.standard_normal((units, rank))
    n = 0.1 * 2.0 * rng.standard_normal((rank, units)) / np.sqrt(units)  # (Δt/τ) · ñ
    bias = rng.standard_normal(units)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = discrete_time_fixed_points(0.9, n, m, bias, activation=activation)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    kinks = 1 if activation == "relu" else 2
    return {
        "benchmark": "fixed_points",
        "units": units,
        "rank": rank,
        "activation": activation,
        "seed": seed,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "fixed_points": int(result.z.shape[0]),
        "stable": int(result.stable.sum()),
        "regions_visited": result.regions_visited,
        "zaslavsky_regions": sum(kinks**r * comb(units, r) for r in range(rank + 1)),
        "solves": result.solves,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="*", default=list(UNITS))
    parser.add_argument("--rank", type=int, nargs="*", default=list(RANKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--activation", choices=("relu", "clipped_relu"), default="relu")
    parser.add_argument(
        "--in-process", action="store_true", help="measure here instead of in a fresh subprocess"
    )
    args = parser.parse_args()
    if args.in_process:
        for rank in args.rank:
            for units in args.units:
                print(json.dumps(measure(units, rank, args.seed, args.activation)), flush=True)
        return
    for rank in args.rank:
        for units in args.units:
            command = [
                sys.executable,
                __file__,
                "--in-process",
                "--units",
                str(units),
                "--rank",
                str(rank),
                "--seed",
                str(args.seed),
                "--activation",
                args.activation,
            ]
            subprocess.run(command, check=True, env={**os.environ, **SINGLE_THREAD})


if __name__ == "__main__":
    main()
