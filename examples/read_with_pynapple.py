"""Read an nwb-dyn result with pynapple: latents as a TsdFrame, state segments as an IntervalSet, spikes as a TsGroup.

Needs nothing of nwb-dyn to read the file (the ndx-dyn spec is cached in it). For a switching model it prints each
unit's firing rate inside every discrete state — the kind of question pynapple makes short.

    python examples/read_with_pynapple.py RESULT.nwb
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import pynapple as nap


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("result", help="an NWB file written by nwb-dyn fit")
    parser.add_argument("--units-shown", type=int, default=5, help="print rates of this many units")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pynapple nudges abutting interval ends and says so
        nwb = nap.load_file(args.result)
        latents = nwb["latents"]
        print(
            f"latents: {type(latents).__name__} of {latents.shape[0]} bins x {latents.shape[1]} dims, "
            f"{latents.times()[0]:.3f}-{latents.times()[-1]:.3f} s"
        )
        windows = nwb["fit_windows"]
        print(f"fit windows: {len(windows)}")
        keys = set(nwb.keys())
        if "state_segments" not in keys:
            print("state segments: none (not a switching model)")
            return 0
        segments = nwb["state_segments"]
        spikes = nwb["units"]
        print(f"state segments: {len(segments)}")
        for state in np.unique(segments["state"]):
            in_state = segments[segments["state"] == state]
            rates = np.asarray(spikes.restrict(in_state).rates)[: args.units_shown]
            print(
                f"state {int(state)}: {in_state.tot_length():.2f} s, rates (Hz) "
                + " ".join(f"{r:.1f}" for r in rates)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
