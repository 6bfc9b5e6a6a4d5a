"""Spike times → counts in bins, with bins outside a unit's observation intervals masked."""

from __future__ import annotations

import numpy as np


def bin_spike_counts(
    spike_times: list[np.ndarray], window_starts_s: np.ndarray, num_bins: int, bin_width_s: float
) -> np.ndarray:
    """Count spikes per unit in ``num_bins`` bins of ``bin_width_s`` after every window start.

    Bins are half-open ``[edge_k, edge_{k+1})``, the convention of ``numpy.histogram`` except for its closed last bin,
    which we do not copy (a spike exactly on a window's end belongs to the next bin).

    Args:
        spike_times: one sorted float64 array of spike times (seconds) per unit, D units.
        window_starts_s: (B,) window start times.
    Returns:
        (B, T, D) float32 counts.
    """
    offsets = np.arange(num_bins + 1) * bin_width_s
    edges = window_starts_s[:, None] + offsets[None, :]  # (B, T+1)
    counts = np.zeros((len(window_starts_s), num_bins, len(spike_times)), dtype=np.float32)
    for unit, times in enumerate(spike_times):
        positions = np.searchsorted(np.sort(times), edges, side="left")  # (B, T+1)
        counts[:, :, unit] = np.diff(positions, axis=1)
    return counts


def observed_mask(
    obs_intervals: list[np.ndarray] | None,
    window_starts_s: np.ndarray,
    num_bins: int,
    bin_width_s: float,
    num_units: int,
) -> np.ndarray:
    """(B, T, D) bool: True where the whole bin lies inside one of the unit's ``obs_intervals`` (all True if none)."""
    mask = np.ones((len(window_starts_s), num_bins, num_units), dtype=bool)
    if obs_intervals is None:
        return mask
    bin_starts = window_starts_s[:, None] + np.arange(num_bins)[None, :] * bin_width_s
    bin_stops = bin_starts + bin_width_s
    tolerance = 1e-9
    for unit, intervals in enumerate(obs_intervals):
        intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
        if len(intervals) == 0:
            mask[:, :, unit] = False
            continue
        inside = np.zeros(bin_starts.shape, dtype=bool)
        for start, stop in intervals:
            inside |= (bin_starts >= start - tolerance) & (bin_stops <= stop + tolerance)
        mask[:, :, unit] = inside
    return mask
