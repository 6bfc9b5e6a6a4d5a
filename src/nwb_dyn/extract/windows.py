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
    table = session.trials_source
    if align is not None:
        if align not in trials:
            raise ExtractionError(
                f"{label}: {table} table has no column '{align}' to align on; columns are "
                f"{', '.join(sorted(trials))}"
            )
        if trials[align].dtype.kind not in "iuf":
            raise ExtractionError(f"{label}: {table} column '{align}' holds {trials[align].dtype} values, not times")
        if window_s is None:
            raise ExtractionError(f"{label}: --align {align} needs --window START STOP (seconds around the event)")
        events = np.asarray(trials[align], dtype=np.float64)
        keep = np.isfinite(events)
        if not keep.any():
            raise ExtractionError(f"{label}: {table} column '{align}' has no finite time to align on")
        window_starts = events[keep] + window_s[0]
        ids = ids[keep]
        duration = window_s[1] - window_s[0]
    else:
        durations = stops - starts
        if np.any(durations <= 0):
            bad = int(np.flatnonzero(durations <= 0)[0])
            raise ExtractionError(
                f"{label}: row {bad} of the {table} table has stop_time <= start_time (zero-length trial); fix the "
                "table or pass --align COLUMN --window START STOP"
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
    valid_intervals_s: np.ndarray, bin_width_s: float, window_length_s: float, label: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Contiguous windows of ``window_length_s`` tiling each valid interval (used when there is no trials table).

    ``valid_intervals_s`` is (n, 2) disjoint [start, stop) stretches of recorded time (obs_intervals ∩ epochs, or a
    series' time range); a window never straddles a gap between them, and the remainder of each stretch is dropped.
    Returns (window starts (B,) seconds, window index (B,) int64, bins per window T).
    """
    num_bins = int(np.floor(window_length_s / bin_width_s + 1e-9))
    if num_bins < 2:
        raise ExtractionError(
            f"{label}: --window-length {window_length_s} s holds fewer than 2 bins of {bin_width_s} s"
        )
    span = num_bins * bin_width_s
    starts = [
        start + span * np.arange(int(np.floor((stop - start) / span + 1e-9)))
        for start, stop in np.asarray(valid_intervals_s, dtype=np.float64).reshape(-1, 2)
    ]
    window_starts = np.concatenate(starts) if starts else np.zeros(0)
    if len(window_starts) < 2:
        total = float(np.sum(np.diff(np.asarray(valid_intervals_s).reshape(-1, 2), axis=1)))
        raise ExtractionError(
            f"{label}: the valid data time ({total:.4g} s in {len(starts)} stretch(es)) holds fewer than 2 windows of "
            f"{span:.4g} s; pass a shorter --window-length"
        )
    return window_starts, np.arange(len(window_starts), dtype=np.int64), num_bins
