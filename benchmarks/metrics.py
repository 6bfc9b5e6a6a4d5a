"""Metric run times at the sizes a fit hands to ``evaluate_arrays`` (numpy/scipy only, one BLAS thread).

Configurations: NLB-style arrays of MC_Maze_Small's shape (100 trials x 35 bins x 107 units), the EEG protocol's
D_stsp / D_H (9640 x 64, the shared EEG file when present, else Gaussian noise of that shape), and cross-validated
velocity decoding. Prints one JSON object per configuration on stdout.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/metrics.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nwb_dyn.analysis.metrics import (
    cross_validated_decoding_r2,
    evaluate_arrays,
    power_spectrum_hellinger,
    state_space_kl_gmm,
)

EEG_PATH = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "eeg_physionet_s001r01"
    / "EEG_data_smoothed.npy"
)


def _seconds(function: Callable[[], object], repeats: int = 3) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    rng = np.random.default_rng(0)
    rates = rng.gamma(2.0, 0.1, size=(100, 35, 107))
    counts = rng.poisson(rates).astype(float)
    held_out = np.arange(107) >= 80
    generated = rng.poisson(rates[:16]).astype(float)
    seconds, metrics = _seconds(
        lambda: evaluate_arrays(counts, rates, held_out, bin_width_s=0.02, generated=generated)
    )
    print(
        json.dumps(
            {
                "config": "evaluate_arrays mc_maze_small shape",
                "B": 100,
                "T": 35,
                "D": 107,
                "generated": 16,
                "seconds": round(seconds, 4),
                "n_metrics": len(metrics),
            }
        )
    )

    velocity = rates[..., :2] @ rng.normal(size=(2, 2))
    seconds, r2 = _seconds(lambda: cross_validated_decoding_r2(rates, velocity), repeats=1)
    print(
        json.dumps(
            {
                "config": "cross_validated_decoding_r2",
                "B": 100,
                "T": 35,
                "F": 107,
                "P": 2,
                "seconds": round(seconds, 4),
                "r2": round(float(r2), 4),
            }
        )
    )

    eeg = np.load(EEG_PATH).astype(np.float64) if EEG_PATH.exists() else rng.normal(size=(9640, 64))
    first, second = eeg[: len(eeg) // 2], eeg[len(eeg) // 2 :]
    seconds, d_stsp = _seconds(lambda: state_space_kl_gmm(first, second), repeats=1)
    print(
        json.dumps(
            {
                "config": "d_stsp gmm eeg halves",
                "T": len(first),
                "D": eeg.shape[1],
                "eeg_file": EEG_PATH.exists(),
                "seconds": round(seconds, 4),
                "d_stsp": round(d_stsp, 4),
            }
        )
    )
    seconds, d_h = _seconds(lambda: power_spectrum_hellinger(first, second, n_frequencies=-1))
    print(
        json.dumps(
            {
                "config": "d_h eeg halves",
                "T": len(first),
                "D": eeg.shape[1],
                "eeg_file": EEG_PATH.exists(),
                "seconds": round(seconds, 4),
                "d_h": round(d_h, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
