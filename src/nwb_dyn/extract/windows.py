"""Where the fitted windows lie on the session clock: trials (optionally aligned to an event) or fixed-length tiles."""

from __future__ import annotations

import numpy as np

from nwb_dyn.errors import ExtractionError
from nwb_dyn.extract.session import SessionInfo


def trial_windows(
    session: SessionInfo,
    bin_width_s: float,
    align: str | None,
    window_s: list[float] | None,
    label: str,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Windows from the trials table.

    With ``align`` and ``window_s = [START, STOP]`` each window is ``[t_align + START, t_align + STOP)``; otherwise
    each trial's ``[start_time, start_time + min trial duration)``, so all windows share one number of bins.

    Returns (window starts (B,) float64 seconds, trial row indices (B,) int64, bins per window T).
    """
    trials = session.trials
    starts = np.asarray(trials["start_time"], dtype=np.float64)
    stops = np.asarray(trials["stop_time"], dtype=np.float64)
    ids = np.arange(len(starts), dtype=np.int64)
    if align is not None:
        if align not in trials:
            raise ExtractionError(
                f"{label}: trials table has no column '{align}' to align on; columns are "
                f"{', '.join(sorted(trials))}"
            )
        if window_s is None:
            raise ExtractionError(f"{label}: --align {align} needs --window START STOP (seconds around the event)")
        events = np.asarray(trials[align], dtype=np.float64)
        keep = np.isfinite(events)
        window_starts = events[keep] + window_s[0]
        ids = ids[keep]
        duration = window_s[1] - window_s[0]
    else:
        durations = stops - starts
        if np.any(durations <= 0):
            bad = int(np.flatnonzero(durations <= 0)[0])
            raise ExtractionError(
                f"{label}: trial {bad} has stop_time <= start_time (zero-length trial); fix the trials table or "
                "pass --align COLUMN --window START STOP"
            )
        window_starts = starts
        duration = float(np.min(durations)) if window_s is None else window_s[1] - window_s[0]
        if window_s is not None:
            window_starts = starts + window_s[0]
    num_bins = int(np.floor(duration / bin_width_s + 1e-9))
    if num_bins < 2:
        raise ExtractionError(
            f"{label}: bin width {bin_width_s} s leaves fewer than 2 bins per window of {duration:.4g} s; "
            "pass a smaller --bin-width or a longer window"
        )
    return window_starts, ids, num_bins


def tiled_windows(
    start_s: float, stop_s: float, bin_width_s: float, window_length_s: float, label: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Contiguous windows of ``window_length_s`` tiling ``[start_s, stop_s)`` (used when there is no trials table)."""
    num_bins = int(np.floor(window_length_s / bin_width_s + 1e-9))
    if num_bins < 2:
        raise ExtractionError(
            f"{label}: --window-length {window_length_s} s holds fewer than 2 bins of {bin_width_s} s"
        )
    span = num_bins * bin_width_s
    count = int(np.floor((stop_s - start_s) / span))
    if count < 2:
        raise ExtractionError(
            f"{label}: the data span {stop_s - start_s:.4g} s holds fewer than 2 windows of {span:.4g} s; "
            "pass a shorter --window-length"
        )
    window_starts = start_s + span * np.arange(count)
    return window_starts, np.arange(count, dtype=np.int64), num_bins
