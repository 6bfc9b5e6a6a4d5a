"""Switching Lorenz: fit a switching RNN to spikes driven by a Lorenz system and score the states it finds.

The Lorenz attractor has two lobes; which lobe the trajectory is on is the true discrete state. The script simulates
Poisson neurons reading out the Lorenz state, writes them as an NWB session, fits `--model srnn` with two states,
and prints how well the inferred states match the lobes (after the best relabelling) and how well the latents
match the true trajectory.

    python examples/switching_lorenz.py --out lorenz-out                       # a real run (a few minutes)
    python examples/switching_lorenz.py --out /tmp/l --max-epochs 1 --trials 4 --steps 40   # a smoke test
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from demo import latent_recovery_r2

from nwb_dyn.analysis.metrics.states import match_states
from nwb_dyn.api import fit
from nwb_dyn.results import read
from nwb_dyn.simulate import simulate_switching_lorenz, write_spiking_session
from nwb_dyn.simulate.nwb_session import poisson_spikes_from_latents


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="lorenz-out", help="output directory")
    parser.add_argument("--trials", type=int, default=32, help="simulated trials")
    parser.add_argument("--steps", type=int, default=200, help="bins per trial")
    parser.add_argument("--units", type=int, default=30, help="simulated neurons")
    parser.add_argument("--max-epochs", type=int, help="cap on epochs for a quick smoke run (default: train to convergence)")
    parser.add_argument("--bin-width", type=float, default=0.01, help="seconds")
    args = parser.parse_args()
    out = Path(args.out)
    truth = simulate_switching_lorenz(num_trials=args.trials, num_steps=args.steps, dt=args.bin_width, seed=0)
    counts, _ = poisson_spikes_from_latents(
        truth.latents, num_units=args.units, bin_width_s=args.bin_width, mean_rate_hz=30.0, seed=0
    )
    source = write_spiking_session(
        out / "sub-sim_ses-lorenz_ecephys.nwb", counts, args.bin_width, truth.latents, truth.states
    )
    print(f"simulated session: {source}")
    outcome = fit(
        str(source),
        model="srnn",
        out=out / "fit",
        overwrite=True,
        fresh=True,
        states=2,
        bin_width=args.bin_width,
        max_epochs=args.max_epochs,
    )
    result = read(outcome.outputs[0])
    # windows are the simulated trials in time order, so rows line up with the truth trial by trial
    inferred_states = result.per_window(result.states)
    match = match_states(truth.states, inferred_states)
    r2 = latent_recovery_r2(result.latents, truth.latents.reshape(-1, 3))
    print(f"output: {result.path}")
    print(f"state accuracy: {match.accuracy:.3f}")
    print(f"latent recovery r2: {r2:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
