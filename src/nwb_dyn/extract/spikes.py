"""Spike times → counts in bins, with bins outside a unit's observation intervals masked."""

from __future__ import annotations

import numpy as np

from nwb_dyn import progress

#: Units counted together before one write into the (B, T, D) array (bounded scratch memory, cache-friendly writes).
_UNITS_PER_BLOCK = 16


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
    for first in range(0, len(spike_times), _UNITS_PER_BLOCK):
        block = spike_times[first : first + _UNITS_PER_BLOCK]
        block_counts = np.empty((len(block), len(window_starts_s), num_bins), dtype=np.float32)
        for index, times in enumerate(block):
            if len(times) > 1 and np.any(times[1:] < times[:-1]):  # files do not promise sorted spike times
                times = np.sort(times)
            block_counts[index] = np.diff(np.searchsorted(times, edges, side="left"), axis=1)
        # one strided write per block of units instead of one per unit: (D_block, B, T) → (B, T, D_block)
        counts[:, :, first : first + len(block)] = block_counts.transpose(1, 2, 0)
        progress.current().update(f"binned {first + len(block)} of {len(spike_times)} units")
    return counts


def observed_mask(
    obs_intervals: list[np.ndarray] | None,
    window_starts_s: np.ndarray,
    num_bins: int,
    bin_width_s: float,
    num_units: int,
) -> np.ndarray:
    """(B, T, D) bool: True where the whole bin lies inside one of the unit's ``obs_intervals`` (all True if none).

    Units usually share their observation intervals (one recording), so each distinct set is evaluated once and written
    to all its units in one assignment.
    """
    mask = np.ones((len(window_starts_s), num_bins, num_units), dtype=bool)
    if obs_intervals is None:
        return mask
    bin_starts = window_starts_s[:, None] + np.arange(num_bins)[None, :] * bin_width_s
    bin_stops = bin_starts + bin_width_s
    tolerance = 1e-9
    units_by_intervals: dict[bytes, list[int]] = {}
    for unit, intervals in enumerate(obs_intervals):
        key = np.ascontiguousarray(intervals, dtype=np.float64).reshape(-1, 2).tobytes()
        units_by_intervals.setdefault(key, []).append(unit)
    for key, units in units_by_intervals.items():
        inside = np.zeros(bin_starts.shape, dtype=bool)
        for start, stop in np.frombuffer(key, dtype=np.float64).reshape(-1, 2):
            inside |= (bin_starts >= start - tolerance) & (bin_stops <= stop + tolerance)
        mask[:, :, units] = inside[:, :, None]
    return mask
