"""The README's demo: simulate a switching-Lorenz spiking session as NWB, fit an SRNN with `nwb-dyn fit`, summarise.

The two lobes of the Lorenz attractor are the true discrete states; 30 Poisson neurons read out the continuous
state. The demo writes the session as a real NWB file (true latents and states in `processing/misc`), fits a
2-state switching RNN to its spikes through the command line, and prints the output path with how well the
discrete states (accuracy after optimal label matching, and how late the fit's switches come after the lobe changes)
and the continuous latents (affine R²) were recovered.

Run with `make demo` (sets everything up first) or `python examples/demo.py --out demo-out`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO

from nwb_dyn.analysis.metrics.states import match_states, switch_lags
from nwb_dyn.results import read
from nwb_dyn.simulate import simulate_switching_lorenz, write_spiking_session
from nwb_dyn.simulate.nwb_session import poisson_spikes_from_latents

BIN_WIDTH_S = 0.02


def latent_recovery_r2(inferred: np.ndarray, truth: np.ndarray) -> float:
    """R² of the best affine map from inferred latents (n, R) to true latents (n, 3), pooled over dimensions."""
    design = np.column_stack([inferred, np.ones(len(inferred))])
    coefficients, *_ = np.linalg.lstsq(design, truth, rcond=None)
    residual = truth - design @ coefficients
    return float(1.0 - residual.var(axis=0).sum() / truth.var(axis=0).sum())


def truth_at(source: Path, name: str, bin_centres_s: np.ndarray) -> np.ndarray:
    """The simulated ground truth ``name`` (true_latents / true_states) at the given bin centres."""
    with NWBHDF5IO(str(source), mode="r") as io:
        series = io.read().processing["misc"][name]
        times = np.asarray(series.timestamps[:])
        values = np.asarray(series.data[:])
    rows = np.searchsorted(times, bin_centres_s - BIN_WIDTH_S / 2)  # tolerant of float round-off at the centres
    return values[np.clip(rows, 0, len(times) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo-out", help="output directory")
    parser.add_argument("--model", default="srnn", help="model family to fit (srnn or lowrank)")
    parser.add_argument("--trials", type=int, default=16, help="simulated trials")
    parser.add_argument("--steps", type=int, default=200, help="bins per trial")
    parser.add_argument(
        "--max-steps", type=int, help="cap on optimiser steps, for a quick smoke run (make demo passes none)"
    )
    args = parser.parse_args()
    out = Path(args.out)
    truth = simulate_switching_lorenz(num_trials=args.trials, num_steps=args.steps, seed=0)
    counts, _ = poisson_spikes_from_latents(
        truth.latents, num_units=30, bin_width_s=BIN_WIDTH_S, mean_rate_hz=50.0, seed=0
    )
    source = write_spiking_session(
        out / "sub-sim_ses-lorenz_ecephys.nwb", counts, BIN_WIDTH_S, truth.latents, truth.states
    )
    print(f"simulated session: {source}")
    # Default training options: only the data's bin width and, for the SRNN, the number of states are given.
    fit_options = ["--model", args.model, "--bin-width", str(BIN_WIDTH_S)]
    if args.model == "srnn":
        fit_options += ["--states", "2"]
    if args.max_steps is not None:
        fit_options += ["--max-steps", str(args.max_steps)]
    command = [
        sys.executable, "-m", "nwb_dyn", "fit", str(source), *fit_options, "--out", str(out / "fit"), "--overwrite", "--fresh"
    ]
    print("running: nwb-dyn", " ".join(command[3:]))
    completed = subprocess.run(command, check=False, stdout=subprocess.PIPE, text=True)
    if completed.returncode != 0:
        return completed.returncode
    lines = completed.stdout.strip().splitlines()
    output = Path(lines[-1])
    result = read(output)
    for line in lines[:-1]:
        if line.startswith("nwb-dyn: fit quality"):  # the fit's own verdict
            print(line)
    print(f"output: {output}")
    if result.states is not None:
        true_states = truth_at(source, "true_states", result.timestamps)
        accuracy = match_states(true_states, np.asarray(result.states)).accuracy
        print(f"discrete-state accuracy (after optimal label matching, chance 0.5): {accuracy:.3f}")
        timing = switch_lags(result.per_window(true_states), result.per_window(np.asarray(result.states)))
        if timing.lags_bins.size:
            lag_bins = float(np.median(timing.lags_bins))
            when = "after" if lag_bins >= 0 else "before"
            print(
                f"state switches: a median {abs(lag_bins):g} bins ({abs(lag_bins) * BIN_WIDTH_S:.2f} s) {when} the "
                f"trajectory changes lobe; {timing.mismatched_in_lags} of the {timing.mismatched_bins} mismatched "
                "bins lie between a lobe change and the fit's switch"
            )
        else:
            print("state switches: none (the fit keeps one state through every trial)")
    true_latents = truth_at(source, "true_latents", result.timestamps)
    r2 = latent_recovery_r2(np.asarray(result.latents), true_latents)
    print(f"latent recovery (affine R² against the true Lorenz state): {r2:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
