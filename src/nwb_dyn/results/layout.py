"""Checks that fitted windows can be laid out along the session clock, made before any training starts."""

from __future__ import annotations

import numpy as np

from nwb_dyn.errors import ExtractionError
from nwb_dyn.extract import NeuralData


def require_non_overlapping_windows(data: NeuralData, label: str) -> None:
    """Raise :class:`ExtractionError` if two fitted windows overlap in time.

    Results are stored as time series with windows concatenated along the source session's clock, so their
    timestamps must increase; overlapping windows (a long ``--window`` around closely spaced events) cannot be
    written that way. Checked before training so that nobody waits for a fit whose result cannot be saved.
    """
    intervals = data.window_intervals_s[np.argsort(data.window_intervals_s[:, 0], kind="stable")]
    overlaps = np.flatnonzero(intervals[1:, 0] < intervals[:-1, 1] - 1e-9)
    if len(overlaps):
        first = int(overlaps[0])
        raise ExtractionError(
            f"{label}: {len(overlaps)} fitted windows overlap the one before them (e.g. [{intervals[first, 0]:.3f}, "
            f"{intervals[first, 1]:.3f}) s and [{intervals[first + 1, 0]:.3f}, {intervals[first + 1, 1]:.3f}) s); "
            "results are stored along the session clock, so windows must not overlap: shorten --window or "
            "choose another --align event"
        )
