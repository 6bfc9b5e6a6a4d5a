"""The README's demo: simulate a switching-Lorenz spiking session as NWB, fit it with `nwb-dyn fit`, summarise.

Run with `make demo` (sets everything up first) or `python examples/demo.py --out demo-out`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO

from nwb_dyn.simulate import simulate_switching_lorenz, write_spiking_session
from nwb_dyn.simulate.nwb_session import poisson_spikes_from_latents

BIN_WIDTH_S = 0.01


def latent_recovery_r2(inferred: np.ndarray, truth: np.ndarray) -> float:
    """R² of the best affine map from inferred latents (n, R) to true latents (n, 3), pooled over dimensions."""
    design = np.column_stack([inferred, np.ones(len(inferred))])
    coefficients, *_ = np.linalg.lstsq(design, truth, rcond=None)
    residual = truth - design @ coefficients
    return float(1.0 - residual.var(axis=0).sum() / truth.var(axis=0).sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo-out", help="output directory")
    parser.add_argument("--model", default="lowrank", help="model family to fit")
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--trials", type=int, default=16, help="simulated trials")
    parser.add_argument("--steps", type=int, default=200, help="bins per trial")
    args = parser.parse_args()
    out = Path(args.out)
    truth = simulate_switching_lorenz(num_trials=args.trials, num_steps=args.steps, seed=0)
    counts, _ = poisson_spikes_from_latents(truth.latents, num_units=30, bin_width_s=BIN_WIDTH_S, mean_rate_hz=20.0, seed=0)
    source = write_spiking_session(
        out / "sub-sim_ses-lorenz_ecephys.nwb", counts, BIN_WIDTH_S, truth.latents, truth.states
    )
    print(f"simulated session: {source}")
    command = [
        sys.executable, "-m", "nwb_dyn", "fit", str(source), "--model", args.model, "--out", str(out / "fit"), "--bin-width",
        str(BIN_WIDTH_S), "--max-epochs", str(args.max_epochs), "--overwrite",
    ]
    print("running: nwb-dyn", " ".join(command[3:]))
    completed = subprocess.run(command, check=False, stdout=subprocess.PIPE, text=True)
    if completed.returncode != 0:
        return completed.returncode
    output = Path(completed.stdout.strip().splitlines()[-1])
    with NWBHDF5IO(str(output), mode="r") as io:
        module = io.read().processing["misc"]
        inferred = np.asarray(module["latents"].data[:])
        times = np.asarray(module["latents"].get_timestamps())
    with NWBHDF5IO(str(source), mode="r") as io:
        true_series = io.read().processing["misc"]["true_latents"]
        true_times = np.asarray(true_series.timestamps[:])
        true_latents = np.asarray(true_series.data[:])
    rows = np.searchsorted(true_times, times)
    r2 = latent_recovery_r2(inferred, true_latents[np.clip(rows, 0, len(true_times) - 1)])
    print(f"output: {output}")
    print(f"latent recovery (affine R² against the true Lorenz state): {r2:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
