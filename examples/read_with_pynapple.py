"""Read an nwb-dyn result with pynapple and align latents and rates to a trial event (move onset for MC_Maze).

Needs nothing of nwb-dyn to read the file (the ndx-dyn spec is cached in it). Latents and rates load as TsdFrames on
the session clock. The fitted windows are concatenated along that clock with gaps between them, so pynapple sees
one irregularly sampled series; restricted to the fitted windows (``fit_windows``, one epoch per window) each epoch
is regularly sampled, and ``nap.compute_perievent`` accepts it. pynapple names the rate columns 0..D-1; the rates'
``channel_ids`` dataset holds the units' ids, which this script puts on the columns. For a switching model it also
prints each unit's firing rate inside every discrete state.

    python examples/read_with_pynapple.py RESULT.nwb [--event move_onset_time] [--window -0.25 0.45]

By default the event and window are the ones the fit was aligned with (its recorded ``--align``/``--window``), or
each trial's start and the fitted window's length when the fit was not aligned.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np
import pynapple as nap


def rates_with_unit_ids(nwb: nap.NWBFile) -> nap.TsdFrame:
    """The ``rates`` TsdFrame with its columns named by the modelled units' ids (the series' ``channel_ids``)."""
    rates = nwb["rates"]
    unit_ids = np.asarray(nwb.nwb.processing["misc"]["rates"].channel_ids[:])
    return nap.TsdFrame(t=rates.times(), d=rates.values, columns=unit_ids, time_support=rates.time_support)


def event_and_window(
    nwb: nap.NWBFile, event: str | None, window: list[float] | None
) -> tuple[str, list[float]]:
    """The event column and (before, after) window to align to: as given, else as the fit was aligned."""
    config = json.loads(nwb.nwb.processing["misc"]["provenance"].config)
    data = config.get("data", {})
    windows = nwb["fit_windows"]
    if event is None:
        event = data.get("align") or "start_time"
    if window is None:
        aligned = data.get("align") == event and data.get("window_s")
        window = list(data["window_s"]) if aligned else [0.0, float(np.max(windows.end - windows.start))]
    return event, window


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("result", help="an NWB file written by nwb-dyn fit")
    parser.add_argument(
        "--event", help="trials column to align to (default: the fit's --align, else start_time)"
    )
    parser.add_argument(
        "--window", type=float, nargs=2, metavar=("BEFORE", "AFTER"), help="seconds around it"
    )
    parser.add_argument("--units-shown", type=int, default=5, help="print rates of this many units")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pynapple nudges abutting interval ends and says so
        nwb = nap.load_file(args.result)
        windows = nwb["fit_windows"]
        latents = nwb["latents"].restrict(
            windows
        )  # one epoch per fitted window: regular sampling inside each
        rates = rates_with_unit_ids(nwb).restrict(windows)
        print(
            f"latents: {type(latents).__name__} of {latents.shape[0]} bins x {latents.shape[1]} dims, "
            f"{latents.times()[0]:.3f}-{latents.times()[-1]:.3f} s"
        )
        print(f"fit windows: {len(windows)}")
        print(
            f"rate columns: unit ids {' '.join(str(unit) for unit in rates.columns[: args.units_shown])} ..."
        )

        event, window = event_and_window(nwb, args.event, args.window)
        fitted_trials = np.asarray(windows["trial"], dtype=int)
        events = nap.Ts(t=np.asarray(nwb.nwb.trials[event].data[:], dtype=np.float64)[fitted_trials])
        aligned_latents = nap.compute_perievent(
            latents, events, window=tuple(window)
        )  # (time, event, latent)
        aligned_rates = nap.compute_perievent(rates, events, window=tuple(window))  # (time, event, unit)
        print(f"aligned to: {event}, {window[0]:+.3f} to {window[1]:+.3f} s, {len(events)} events")
        print(f"aligned latents: {' x '.join(map(str, aligned_latents.shape))} (time x event x latent)")
        print(f"aligned rates: {' x '.join(map(str, aligned_rates.shape))} (time x event x unit)")
        mean_latent = np.nanmean(aligned_latents.values[:, :, 0], axis=1)
        print(
            f"mean latent 1 around {event}: "
            + " ".join(f"{t:+.2f}s={v:+.3f}" for t, v in zip(aligned_latents.times()[::5], mean_latent[::5]))
        )
        bin_width_s = float(np.median(np.diff(latents.times())))
        mean_rates_hz = np.nanmean(aligned_rates.values, axis=1) / bin_width_s  # (time, unit)
        for column in np.argsort(-mean_rates_hz.mean(axis=0))[: args.units_shown]:
            peak = int(np.argmax(mean_rates_hz[:, column]))
            print(
                f"unit {rates.columns[column]} peak: {mean_rates_hz[peak, column]:.1f} Hz at "
                f"{aligned_rates.times()[peak]:+.2f} s"
            )

        if "state_segments" not in set(nwb.keys()):
            print("state segments: none (not a switching model)")
            return 0
        segments = nwb["state_segments"]
        spikes = nwb["units"]
        print(f"state segments: {len(segments)}")
        for state in np.unique(segments["state"]):
            in_state = segments[segments["state"] == state]
            state_rates = np.asarray(spikes.restrict(in_state).rates)[: args.units_shown]
            print(
                f"state {int(state)}: {in_state.tot_length():.2f} s, rates (Hz) "
                + " ".join(f"{r:.1f}" for r in state_rates)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
