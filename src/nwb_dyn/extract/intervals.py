"""Which rows give the windows (trials or a named TimeIntervals table) and which stretches of time hold valid data."""

from __future__ import annotations

import numpy as np
from pynwb import NWBFile
from pynwb.epoch import TimeIntervals

from nwb_dyn.errors import ExtractionError


def find_interval_table(nwbfile: NWBFile, name: str, label: str) -> TimeIntervals:
    """The TimeIntervals table ``name`` (``trials``, ``epochs`` or any table under ``intervals/``) for ``--intervals``."""
    tables = dict(nwbfile.intervals.items()) if nwbfile.intervals else {}
    table = tables.get(name)
    if table is None:
        listing = ", ".join(sorted(tables)) or "none"
        raise ExtractionError(f"{label}: --intervals {name}: no such TimeIntervals table; the file has: {listing}")
    if len(table) == 0:
        raise ExtractionError(f"{label}: --intervals {name}: the table has no rows")
    return table


def merge_intervals(intervals: np.ndarray) -> np.ndarray:
    """Union of (n, 2) [start, stop) intervals as sorted, disjoint (m, 2) intervals (empty ones dropped)."""
    intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    intervals = intervals[intervals[:, 1] > intervals[:, 0]]
    if len(intervals) == 0:
        return intervals
    intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
    merged = [intervals[0].copy()]
    for start, stop in intervals[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append(np.array([start, stop]))
    return np.stack(merged)


def intersect_intervals(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Intersection of two sets of intervals, as sorted, disjoint (m, 2) intervals."""
    first, second = merge_intervals(first), merge_intervals(second)
    pieces = [
        (max(a0, b0), min(a1, b1))
        for a0, a1 in first
        for b0, b1 in second
        if max(a0, b0) < min(a1, b1)
    ]
    return merge_intervals(np.array(pieces).reshape(-1, 2))


def subtract_intervals(intervals: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """``intervals`` minus ``removed``, as sorted, disjoint (m, 2) intervals."""
    pieces = merge_intervals(intervals)
    for cut_start, cut_stop in merge_intervals(removed):
        kept = []
        for start, stop in pieces:
            if cut_stop <= start or cut_start >= stop:
                kept.append((start, stop))
                continue
            if start < cut_start:
                kept.append((start, cut_start))
            if cut_stop < stop:
                kept.append((cut_stop, stop))
        pieces = np.array(kept).reshape(-1, 2)
    return pieces


def _table_intervals(table: TimeIntervals | None) -> np.ndarray | None:
    if table is None or len(table) == 0:
        return None
    starts = np.asarray(table["start_time"].data[:], dtype=np.float64)
    stops = np.asarray(table["stop_time"].data[:], dtype=np.float64)
    return np.stack([starts, stops], axis=1)


def valid_time(nwbfile: NWBFile, recorded: np.ndarray) -> np.ndarray:
    """The ``recorded`` (n, 2) intervals, restricted to ``epochs`` when there are any, minus ``invalid_times``."""
    epochs = _table_intervals(nwbfile.epochs)
    valid = merge_intervals(recorded) if epochs is None else intersect_intervals(recorded, epochs)
    invalid = _table_intervals(nwbfile.invalid_times)
    return valid if invalid is None else subtract_intervals(valid, invalid)
