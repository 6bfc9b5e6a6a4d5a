"""MC_Maze_Small: fit real motor-cortex spiking from DANDI 000140 and write the visual report.

Macaque M1/PMd units recorded during a delayed centre-out maze reach (Churchland & Kaufman, Neural Latents Benchmark).
By default the session is streamed from DANDI; pass `--source` to use a local copy. The fit is aligned on movement
onset, and the report (states or latents against movement onset, flow field, rates, training curves) is written
next to the result.

    python examples/mc_maze_small.py --out maze-out                              # streams from DANDI
    python examples/mc_maze_small.py --source local.nwb --out /tmp/m --max-epochs 1 --units 16   # a smoke test
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nwb_dyn.api import fit, report
from nwb_dyn.results import read

DANDI_SOURCE = "dandiset:000140@0.220113.0408/sub-Jenkins/sub-Jenkins_ses-small_desc-test_ecephys.nwb"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source", default=DANDI_SOURCE, help="NWB path, URL or dandiset address of the session"
    )
    parser.add_argument("--out", default="maze-out", help="output directory")
    parser.add_argument("--model", default="lowrank", help="lowrank or srnn")
    parser.add_argument("--max-epochs", type=int, help="cap on epochs for a quick smoke run (default: train to convergence)")
    parser.add_argument("--units", type=int, default=64, help="RNN units of the low-rank model")
    parser.add_argument("--particles", type=int, default=16, help="SMC particles of the low-rank model")
    args = parser.parse_args()
    out = Path(args.out)
    sizes = (
        {"units": args.units, "particles": args.particles, "rank": 3}
        if args.model == "lowrank"
        else {"states": 3}
    )
    outcome = fit(
        args.source,
        model=args.model,
        out=out,
        overwrite=True,
        fresh=True,
        bin_width=0.02,
        align="move_onset_time",
        window=[-0.25, 0.45],
        heldout_fraction=0.2,
        max_epochs=args.max_epochs,
        **sizes,
    )
    result = read(outcome.outputs[0])
    print(f"output: {result.path}")
    print(f"windows: {len(result.windows.start_s)}")
    for name, value in sorted(result.stored_model.metrics.items()):
        if name.endswith("bps"):  # bits per spike: held-in fit and held-out co-smoothing
            print(f"{name}: {value:.4f}")
    print(f"report: {report(result.path, out / 'report')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
