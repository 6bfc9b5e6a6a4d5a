"""Continuous TimeSeries → bin averages, read in bounded chunks so long recordings never load whole.

A sample at time ``t`` belongs to bin ``[edge_k, edge_{k+1})`` (half-open, as for spikes). A bin's value is the mean of
the finite samples that fall in it, per channel; a bin (channel) without any finite sample is reported as unobserved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pynwb import TimeSeries

from nwb_dyn.errors import ExtractionError

#: Values (rows × channels) read from the file at once; bounds memory to a few hundred MB on any recording.
DEFAULT_MAX_VALUES_PER_READ = 4_000_000

#: Fraction of a sample period by which a regular sample may miss a bin edge and still count as on it (float noise).
_RATE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SeriesTiming:
    """When each of a series' ``num_samples`` samples was taken: regular (``rate_hz``) or explicit ``timestamps_s``."""

    num_samples: int
    starting_time_s: float
    rate_hz: float | None
    timestamps_s: np.ndarray | None

    def first_sample_at_or_after(self, times_s: np.ndarray) -> np.ndarray:
        """Index of the first sample taken at or after each time (``num_samples`` when none is); same shape as input."""
        if self.timestamps_s is not None:
            return np.searchsorted(self.timestamps_s, times_s, side="left")
        position = (np.asarray(times_s, dtype=np.float64) - self.starting_time_s) * self.rate_hz
        return np.clip(np.ceil(position - _RATE_TOLERANCE), 0, self.num_samples).astype(np.int64)

    @property
    def span_s(self) -> tuple[float, float]:
        """[first sample time, end of the last sample period) in seconds."""
        if self.timestamps_s is not None:
            last = float(self.timestamps_s[-1])
            step = float(np.median(np.diff(self.timestamps_s))) if self.num_samples > 1 else 0.0
            return float(self.timestamps_s[0]), last + step
        return self.starting_time_s, self.starting_time_s + self.num_samples / self.rate_hz


def read_timing(series: TimeSeries, label: str, path: str) -> SeriesTiming:
    """Check and read the clock of ``series`` (``path`` names it in errors)."""
    shape = getattr(series.data, "shape", None)
    if shape is None or len(shape) == 0:
        raise ExtractionError(f"{label}: series {path} has no data array")
    num_samples = int(shape[0])
    if num_samples < 2:
        raise ExtractionError(f"{label}: series {path} has {num_samples} sample(s); at least 2 are needed")
    if series.rate is not None:
        rate = float(series.rate)
        if not np.isfinite(rate) or rate <= 0:
            raise ExtractionError(f"{label}: series {path} has rate {rate} Hz; it must be a positive number")
        return SeriesTiming(num_samples, float(series.starting_time or 0.0), rate, None)
    if series.timestamps is None:
        raise ExtractionError(f"{label}: series {path} has neither rate nor timestamps")
    timestamps = np.asarray(series.timestamps[:], dtype=np.float64)
    if len(timestamps) != num_samples:
        raise ExtractionError(
            f"{label}: series {path} has {len(timestamps)} timestamps for {num_samples} samples; they must match"
        )
    if not np.all(np.isfinite(timestamps)):
        raise ExtractionError(f"{label}: series {path} has non-finite timestamps; fix or drop them")
    decreasing = np.flatnonzero(np.diff(timestamps) < 0)
    if len(decreasing):
        index = int(decreasing[0]) + 1
        raise ExtractionError(
            f"{label}: timestamps of series {path} are not monotonic (timestamp {index} = {timestamps[index]:.6g} s "
            f"comes before timestamp {index - 1} = {timestamps[index - 1]:.6g} s); this series cannot be binned"
        )
    return SeriesTiming(num_samples, float(timestamps[0]), None, timestamps)


def _bin_edges(window_starts_s: np.ndarray, num_bins: int, bin_width_s: float) -> np.ndarray:
    """(B, T+1) edges, computed exactly as :func:`nwb_dyn.extract.spikes.bin_spike_counts` computes them."""
    return window_starts_s[:, None] + (np.arange(num_bins + 1) * bin_width_s)[None, :]


def bin_average(
    data: object,
    timing: SeriesTiming,
    window_starts_s: np.ndarray,
    num_bins: int,
    bin_width_s: float,
    max_values_per_read: int = DEFAULT_MAX_VALUES_PER_READ,
) -> tuple[np.ndarray, np.ndarray]:
    """Average the samples of ``data`` (an h5py dataset or array, (N,) or (N, D)) inside every bin.

    Bins are visited in order of their first sample and grouped so that each read spans at most
    ``max_values_per_read`` values (one bin is never split), so overlapping windows and very long recordings both work
    with bounded memory. Raw values are returned: conversion and offset are applied by the caller (averaging is linear).

    Returns:
        means: (B, T, D) float32, 0 where unobserved; observed: (B, T, D) bool, True where a finite sample fell in the bin.
    """
    shape = data.shape
    num_channels = int(shape[1]) if len(shape) == 2 else 1
    edges = _bin_edges(window_starts_s, num_bins, bin_width_s)
    first = timing.first_sample_at_or_after(edges[:, :-1]).ravel()
    stop = timing.first_sample_at_or_after(edges[:, 1:]).ravel()
    means = np.zeros((first.size, num_channels), dtype=np.float32)
    observed = np.zeros((first.size, num_channels), dtype=bool)
    order = np.argsort(first, kind="stable")
    reach = np.maximum.accumulate(stop[order])  # furthest sample any bin so far needs
    rows_per_read = max(1, max_values_per_read // num_channels)
    position = 0
    while position < order.size:
        low = int(first[order[position]])
        end = max(position + 1, int(np.searchsorted(reach, low + rows_per_read, side="right")))
        high = int(reach[end - 1])
        bins = order[position:end]
        position = end
        if high <= low:
            continue
        chunk = np.asarray(data[low:high], dtype=np.float64).reshape(high - low, num_channels)
        finite = np.isfinite(chunk)
        summed = np.zeros((high - low + 1, num_channels))
        np.cumsum(np.where(finite, chunk, 0.0), axis=0, out=summed[1:])
        counted = np.zeros((high - low + 1, num_channels), dtype=np.int64)
        np.cumsum(finite, axis=0, out=counted[1:])
        start_rows, stop_rows = first[bins] - low, np.maximum(stop[bins], first[bins]) - low
        counts = counted[stop_rows] - counted[start_rows]
        has = counts > 0
        means[bins] = np.where(has, (summed[stop_rows] - summed[start_rows]) / np.maximum(counts, 1), 0.0)
        observed[bins] = has
    size = (len(window_starts_s), num_bins, num_channels)
    return means.reshape(size), observed.reshape(size)
