"""Where the fitted windows lie on the session clock: trials (optionally aligned to an event) or fixed-length tiles."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from nwb_dyn.errors import ExtractionError
from nwb_dyn.extract.session import SessionInfo


@dataclass(frozen=True)
class TrialWindows:
    """Where the trial windows lie: starts (B,) float64 seconds, trials table rows (B,) int64, bins of data in each
    window (B,) int64, and T, the bins every window is stored with (the longest window; shorter ones are padded)."""

    starts_s: np.ndarray
    trial_rows: np.ndarray
    bins_of_data: np.ndarray
    num_bins: int


def trial_windows(
    session: SessionInfo,
    bin_width_s: float,
    align: str | None,
    window_s: list[float] | None,
    label: str,
) -> TrialWindows:
    """Windows from the trials table.

    With ``window_s = [START, STOP]`` every window has that length: ``[t_align + START, t_align + STOP)`` with
    ``align``, else ``[start_time + START, start_time + STOP)``. Otherwise each window is its trial,
    ``[start_time, stop_time)`` cut to whole bins, and trials of unequal length are stored padded to the longest one:
    the bins after a trial's end are marked unobserved (``NeuralData.mask`` False), so no trial loses data and
    padding never enters a likelihood or a score. A trial shorter than one bin holds no whole bin and is dropped
    with a warning that names how many were. (An aborted 60 ms trial among 4 s trials costs the compute of a 4 s
    one but shortens nothing; shortening every window to the shortest trial, as before, silently discarded all
    but the first 60 ms of every trial.)
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
        if not keep.all():
            warnings.warn(
                f"{label}: left out {int((~keep).sum())} of {len(keep)} {table} rows whose '{align}' is not a finite "
                "time (no event to align on)",
                UserWarning,
                stacklevel=2,
            )
        return _fixed_length(events[keep] + window_s[0], ids[keep], window_s[1] - window_s[0], bin_width_s, label)
    durations = stops - starts
    if np.any(durations <= 0):
        bad = int(np.flatnonzero(durations <= 0)[0])
        raise ExtractionError(
            f"{label}: row {bad} of the {table} table has stop_time <= start_time (zero-length trial); fix the "
            "table or pass --align COLUMN --window START STOP"
        )
    if window_s is not None:
        return _fixed_length(starts + window_s[0], ids, window_s[1] - window_s[0], bin_width_s, label)
    bins_of_data = np.floor(durations / bin_width_s + 1e-9).astype(np.int64)
    empty = bins_of_data == 0
    if empty.all():
        raise ExtractionError(
            f"{label}: every row of the {table} table is shorter than the bin width {bin_width_s} s; pass a smaller "
            "--bin-width"
        )
    if empty.any():
        rows = np.flatnonzero(empty)
        warnings.warn(
            f"{label}: dropped {len(rows)} of {len(starts)} {table} rows shorter than one bin of {bin_width_s} s "
            f"(rows {', '.join(str(row) for row in rows[:10])}{', ...' if len(rows) > 10 else ''}); they hold no "
            "whole bin",
            UserWarning,
            stacklevel=2,
        )
    starts, ids, bins_of_data = starts[~empty], ids[~empty], bins_of_data[~empty]
    num_bins = int(bins_of_data.max())
    if num_bins < 2:
        raise ExtractionError(
            f"{label}: bin width {bin_width_s} s leaves fewer than 2 bins in the longest {table} row "
            f"({durations.max():.4g} s); pass a smaller --bin-width"
        )
    short = bins_of_data < num_bins
    if short.any():
        padding = 1.0 - bins_of_data.sum() / (num_bins * len(bins_of_data))
        warnings.warn(
            f"{label}: {int(short.sum())} of {len(bins_of_data)} {table} rows are shorter than the longest "
            f"({num_bins * bin_width_s:.4g} s, shortest {bins_of_data.min() * bin_width_s:.4g} s); every row keeps "
            f"its whole length and the shorter ones are padded with unobserved bins ({padding:.1%} of all bins). "
            "Pass --align COLUMN --window START STOP for windows of one length",
            UserWarning,
            stacklevel=2,
        )
    return TrialWindows(starts, ids, bins_of_data, num_bins)


def _fixed_length(
    starts_s: np.ndarray, trial_rows: np.ndarray, duration_s: float, bin_width_s: float, label: str
) -> TrialWindows:
    """Windows of one length ``duration_s`` after every start (B,)."""
    num_bins = int(np.floor(duration_s / bin_width_s + 1e-9))
    if num_bins < 2:
        raise ExtractionError(
            f"{label}: bin width {bin_width_s} s leaves fewer than 2 bins per window of {duration_s:.4g} s; "
            "pass a smaller --bin-width or a longer window"
        )
    return TrialWindows(starts_s, trial_rows, np.full(len(starts_s), num_bins, dtype=np.int64), num_bins)


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
