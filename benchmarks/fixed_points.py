"""Speed and memory of the exact fixed-point enumeration on random ReLU low-rank networks, and the budgeted
fixed-point stage of real fits.

Prints one JSON object per configuration (rank R ∈ {2, 3}, units N ∈ {64, …, 1024}): wall and CPU seconds, peak
resident memory of a fresh process running only that configuration, and the counts the enumeration reports, with
the cost :func:`~nwb_dyn.analysis.fixed_points.enumeration_cost` predicted beforehand. Every configuration runs in
its own subprocess with one BLAS thread, so the peak RSS is its own.

``--stage`` instead measures the fixed-point stage as a fit runs it (``--fixed-points auto``, 60 s budget): one
``nwb_dyn.fit`` per configuration (N = 512 at rank 5 and 36 with clipped ReLU, 1 epoch on a simulated session)
reports the method, candidates examined and elapsed seconds the output file records; and the budgeted search on
random N = 512, rank 3 ReLU weights shows the exact enumeration still runs where it fits the budget.

    python benchmarks/fixed_points.py                      # the whole grid
    python benchmarks/fixed_points.py --units 512 --rank 3  # one configuration
    python benchmarks/fixed_points.py --activation clipped_relu --units 128 256 --rank 3
    python benchmarks/fixed_points.py --stage               # the fixed-point stage of fits (target: < 60 s each)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

UNITS = (64, 128, 256, 512, 1024)
RANKS = (2, 3)
#: (units, rank, activation) of the fits ``--stage`` runs: Pals et al.'s MC_Maze size and their NLB model's rank.
STAGE_FITS = ((512, 5, "clipped_relu"), (512, 36, "clipped_relu"))
STAGE_BUDGET_S = 60.0
SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def measure(units: int, rank: int, seed: int, activation: str) -> dict:
    """Time one enumeration on a random network: m ~ N(0, 1), bias ~ N(0, 1), and the model's scaled
    n = (Δt/τ) ñ with Δt/τ = 0.1 (decay 0.9) and ñ ~ N(0, 4/N)."""
    import resource
    import time
    from math import comb

    from nwb_dyn.analysis.fixed_points import discrete_time_fixed_points, enumeration_cost

    m, n, bias = random_weights(units, rank, seed)
    predicted = enumeration_cost(0.9, n, m, bias, activation=activation)
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
        "predicted_seconds": round(predicted.seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "fixed_points": int(result.z.shape[0]),
        "stable": int(result.stable.sum()),
        "regions_visited": result.regions_visited,
        "zaslavsky_regions": sum(kinks**r * comb(units, r) for r in range(rank + 1)),
        "solves": result.solves,
    }


def random_weights(units: int, rank: int, seed: int):
    """m ~ N(0, 1) (N, R), the model's scaled n = (Δt/τ) ñ with Δt/τ = 0.1 and ñ ~ N(0, 4/N) (R, N), bias ~ N(0, 1)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    m = rng.standard_normal((units, rank))
    n = 0.1 * 2.0 * rng.standard_normal((rank, units)) / np.sqrt(units)
    return m, n, rng.standard_normal(units)


def measure_search(units: int, rank: int, seed: int, activation: str) -> dict:
    """The budgeted search (``auto``, 60 s) on random weights; latents from the map's own noisy trajectories."""
    import numpy as np

    from nwb_dyn.analysis.fixed_point_search import search_fixed_points

    m, n, bias = random_weights(units, rank, seed)
    latents = np.random.default_rng(seed).standard_normal((16, 50, rank))
    found = search_fixed_points(0.9, n, m, bias, activation, latents, "auto", STAGE_BUDGET_S, seed=seed)
    return {
        "benchmark": "fixed_point_search",
        "units": units,
        "rank": rank,
        "activation": activation,
        **found.record(),
    }


def measure_fit_stage(units: int, rank: int, activation: str, seed: int) -> dict:
    """One ``nwb_dyn.fit`` (1 epoch, 40 simulated units, 24 trials of 1 s at 20 ms) at N units and rank R; returns
    the fixed-point record its output file holds, the fit's wall time and the number of points written."""
    import tempfile
    import time
    from pathlib import Path

    import numpy as np

    import nwb_dyn
    from nwb_dyn.results import read
    from nwb_dyn.simulate.nwb_session import poisson_spikes_from_latents, write_spiking_session

    with tempfile.TemporaryDirectory() as work:
        rng = np.random.default_rng(seed)
        latents = np.cumsum(0.3 * rng.standard_normal((24, 50, 3)), axis=1)
        counts, _ = poisson_spikes_from_latents(latents, 40, 0.02, 10.0, seed)
        source = write_spiking_session(Path(work) / "session.nwb", counts, 0.02, seed=seed)
        started = time.perf_counter()
        outcome = nwb_dyn.fit(
            str(source),
            model="lowrank",
            out=Path(work) / "out",
            max_epochs=1,
            bin_width=0.02,
            rank=rank,
            units=units,
            activation=activation,
            particles=16,
            fixed_points="auto",
            fixed_point_budget=STAGE_BUDGET_S,
            seed=seed,
        )
        fit_s = time.perf_counter() - started
        result = read(outcome.outputs[0])
        record = result.stored_model.training_summary["fixed_point_search"]
        written = 0 if result.fixed_points is None else result.fixed_points.num_points
    return {
        "benchmark": "fixed_point_stage",
        "units": units,
        "rank": rank,
        "activation": activation,
        "fit_seconds": round(fit_s, 3),
        "fixed_points_written": written,
        "stage_under_budget": record["elapsed_s"] < STAGE_BUDGET_S,
        **record,
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
    parser.add_argument("--stage", action="store_true", help="the budgeted fixed-point stage of real fits")
    args = parser.parse_args()
    if args.stage:
        env = {**os.environ, **SINGLE_THREAD, "NWB_DYN_NUM_THREADS": "1"}
        calls = [f"measure_search(512, 3, {args.seed}, 'relu')"] + [
            f"measure_fit_stage({units}, {rank}, {activation!r}, {args.seed})"
            for units, rank, activation in STAGE_FITS
        ]
        for call in calls:  # each in a fresh process with one thread
            code = f"import json, sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import fixed_points as b; "
            code += f"print(json.dumps(b.{call}), flush=True)"
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
        return
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
