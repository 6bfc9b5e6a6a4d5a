"""One continuous TimeSeries → (B, T, D) bin averages in physical units, with its channel ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pynwb import TimeSeries

from nwb_dyn.errors import ExtractionError
from nwb_dyn.extract.continuous import SeriesTiming, bin_average


@dataclass
class BinnedSeries:
    """A series averaged into bins.

    values: (B, T, D) float32 in the series' unit (``conversion``, ``channel_conversion`` and ``offset`` applied), 0 where
    unobserved; observed: (B, T, D) bool; channel_ids: (D,) int64 (electrode or ROI ids when the series links them).
    """

    values: np.ndarray
    observed: np.ndarray
    channel_ids: np.ndarray
    unit: str


def check_series_data(series: TimeSeries, label: str, path: str) -> None:
    """Refuse data that cannot become (time, channels): images, strings, references."""
    data = series.data
    shape = getattr(data, "shape", None)
    dtype = getattr(data, "dtype", None)
    if shape is None or dtype is None:
        raise ExtractionError(f"{label}: series {path} has no readable data array")
    if len(shape) not in (1, 2):
        raise ExtractionError(
            f"{label}: series {path} has {len(shape)}-D data {tuple(shape)}; only (time,) or (time, channels) "
            "series can be fitted"
        )
    if np.dtype(dtype).kind not in "biuf":
        raise ExtractionError(f"{label}: series {path} holds {np.dtype(dtype)} values, not numbers")


def _linked_ids(series: TimeSeries, num_channels: int) -> np.ndarray:
    """Electrode (ElectricalSeries) or ROI (RoiResponseSeries) ids of the columns, else 0..D-1."""
    for region_name in ("electrodes", "rois"):
        region = getattr(series, region_name, None)
        if region is None:
            continue
        rows = np.asarray(region.data[:], dtype=np.int64)
        if len(rows) == num_channels:
            return np.asarray(region.table.id[:], dtype=np.int64)[rows]
    return np.arange(num_channels, dtype=np.int64)


def bin_series(
    series: TimeSeries,
    timing: SeriesTiming,
    window_starts_s: np.ndarray,
    num_bins: int,
    bin_width_s: float,
    label: str,
    path: str,
) -> BinnedSeries:
    """Average ``series`` into ``num_bins`` bins after every window start and convert to physical units.

    Raises :class:`ExtractionError` naming ``path`` when no finite sample falls in any bin (a series of NaN, or windows
    outside the series' time range).
    """
    check_series_data(series, label, path)
    means, observed = bin_average(series.data, timing, window_starts_s, num_bins, bin_width_s)
    if not observed.any():
        start, stop = timing.span_s
        raise ExtractionError(
            f"{label}: series {path} has no finite sample inside any window: its values are all NaN there, or the "
            f"windows lie outside its time range {start:.6g}–{stop:.6g} s; check the series, --align and --window"
        )
    scale = np.full(means.shape[-1], float(series.conversion), dtype=np.float64)
    channel_conversion = getattr(series, "channel_conversion", None)
    if channel_conversion is not None:
        scale = scale * np.asarray(channel_conversion[:], dtype=np.float64)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    values = np.where(observed, means * scale + offset, 0.0).astype(np.float32)
    return BinnedSeries(values, observed, _linked_ids(series, means.shape[-1]), str(series.unit))
