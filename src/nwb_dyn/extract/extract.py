"""NWB session → :class:`NeuralData`: choose the data, place the windows, bin, split and attach behaviour."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pynwb import NWBFile, TimeSeries

from nwb_dyn.config import DataConfig
from nwb_dyn.errors import ConfigError, ExtractionError
from nwb_dyn.extract.continuous import SeriesTiming, read_timing
from nwb_dyn.extract.intervals import find_interval_table, merge_intervals, valid_time
from nwb_dyn.extract.inventory import DataChoice, describe_fittable, modality_of
from nwb_dyn.extract.neural_data import NeuralData
from nwb_dyn.extract.series import bin_series, check_series_data
from nwb_dyn.extract.series_paths import find_series
from nwb_dyn.extract.session import SessionInfo, read_session_info, table_columns
from nwb_dyn.extract.spikes import bin_spike_counts, observed_mask
from nwb_dyn.extract.splits import held_out_channels, train_val_split
from nwb_dyn.extract.units import UnitsData, read_units
from nwb_dyn.extract.windows import tiled_windows, trial_windows


@dataclass
class _Signal:
    """The neural data before windowing: how to bin it and which stretches of time it covers."""

    valid_intervals_s: np.ndarray  # (n, 2) recorded time
    channel_ids: np.ndarray  # (D,)
    heldout_column: np.ndarray | None  # (D,) bool
    observation: str
    units: UnitsData | None = None
    series_path: str | None = None
    series: TimeSeries | None = None
    timing: SeriesTiming | None = None


def choose_data(nwbfile: NWBFile, settings: DataConfig, label: str) -> DataChoice:
    """``--series PATH`` when given, else the default of :func:`describe_fittable` (units, else the largest series)."""
    if settings.series is not None:
        if settings.units_where is not None:
            raise ConfigError("--units-where selects units, --series a continuous series; pass only one of them")
        series = find_series(nwbfile, settings.series, label, "--series")
        path = settings.series.strip("/")
        return DataChoice(path, modality_of(path, series), "chosen with --series")
    if settings.units_where is not None:
        return DataChoice("units", "ecephys", "chosen with --units-where")
    inventory = describe_fittable(nwbfile)
    if inventory.default is None:
        hint = "pass --series PATH to fit a continuous series" if inventory.series else "it holds no spikes or series"
        raise ExtractionError(f"{label} has no Units table with spikes and nothing else fittable was found; {hint}")
    return inventory.default


def _units_signal(nwbfile: NWBFile, settings: DataConfig, label: str) -> _Signal:
    units = read_units(nwbfile, label, settings.units_where)
    if units.obs_intervals is not None:
        valid = merge_intervals(np.concatenate([i for i in units.obs_intervals if len(i)] or [np.zeros((0, 2))]))
    else:
        spikes = [t for t in units.spike_times if len(t)]
        valid = np.array([[min(t.min() for t in spikes), max(t.max() for t in spikes)]])
    return _Signal(valid, units.ids, units.heldout, "counts", units=units)


def _series_signal(nwbfile: NWBFile, path: str, label: str) -> _Signal:
    series = find_series(nwbfile, path, label, "--series")
    check_series_data(series, label, path)
    timing = read_timing(series, label, path)
    width = int(series.data.shape[1]) if len(series.data.shape) == 2 else 1
    ids = np.arange(width, dtype=np.int64)  # replaced by electrode/ROI ids once binned
    return _Signal(np.array([timing.span_s]), ids, None, "continuous", series_path=path, series=series, timing=timing)


def _trials(nwbfile: NWBFile, session: SessionInfo, settings: DataConfig, label: str) -> bool:
    """Load the rows windows come from into ``session.trials``; True when there are any."""
    if settings.intervals is not None and settings.intervals != "trials":
        table = find_interval_table(nwbfile, settings.intervals, label)
        session.trials, session.trial_column_descriptions = table_columns(table)
        session.trials_source = settings.intervals
    elif settings.intervals == "trials" and "start_time" not in session.trials:
        find_interval_table(nwbfile, "trials", label)
    return "start_time" in session.trials and len(session.trials["start_time"]) > 0


def _span_mask(valid_intervals_s: np.ndarray, bin_start_s: np.ndarray, bin_width_s: float) -> np.ndarray:
    """(B, T) bool: bins that overlap the spike span [first spike, last spike] of units without obs_intervals.

    The span is closed at its end, so the bin holding the last spike counts as observed.
    """
    overlaps = np.zeros(bin_start_s.shape, dtype=bool)
    for start, stop in valid_intervals_s:
        overlaps |= (bin_start_s <= stop) & (bin_start_s + bin_width_s > start)
    return overlaps


def _bin_neural(
    signal: _Signal, window_starts: np.ndarray, in_window: np.ndarray, settings: DataConfig, label: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, object]]:
    """(values, mask, channel ids, extra settings) of the neural data in the windows.

    in_window (B, T) bool is False on the padding after a window shorter than T: those bins are unobserved (mask
    False, value 0) whatever the recording holds there.
    """
    width = settings.bin_width_s
    num_bins = in_window.shape[1]
    if signal.units is not None:
        units = signal.units
        counts = bin_spike_counts(units.spike_times, window_starts, num_bins, width)
        if units.obs_intervals is not None:
            mask = observed_mask(units.obs_intervals, window_starts, num_bins, width, len(units.ids))
        else:
            bin_start = window_starts[:, None] + np.arange(num_bins)[None, :] * width
            inside = _span_mask(signal.valid_intervals_s, bin_start, width)
            mask = np.repeat(inside[:, :, None], len(units.ids), axis=2)
        mask &= in_window[:, :, None]
        np.putmask(counts, ~mask, 0.0)
        return counts, mask, signal.channel_ids, {}
    binned = bin_series(signal.series, signal.timing, window_starts, num_bins, width, label, signal.series_path)
    mask = binned.observed & in_window[:, :, None]
    values, extra = np.where(mask, binned.values, np.float32(0.0)), {"unit": binned.unit}
    if settings.zscore:
        values, mean, std = _zscore(values, mask)
        extra.update(zscore_mean=mean.tolist(), zscore_std=std.tolist())
    return values, mask, binned.channel_ids, extra


def _zscore(values: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel z-score over observed bins of (B, T, D) ``values``; a constant channel is only centred."""
    count = np.maximum(observed.sum(axis=(0, 1)), 1)
    mean = np.where(observed, values, 0.0).sum(axis=(0, 1), dtype=np.float64) / count
    centred = np.where(observed, values - mean, 0.0)
    std = np.sqrt((centred.astype(np.float64) ** 2).sum(axis=(0, 1)) / count)
    std = np.where(std > 0, std, 1.0)
    return (centred / std).astype(np.float32), mean, std


def _behaviour(
    nwbfile: NWBFile, paths: list[str], option: str, window_starts: np.ndarray, in_window: np.ndarray, width: float,
    label: str,
) -> np.ndarray | None:
    """(B, T, sum of channels) float32: every series of ``paths`` averaged onto the neural bins; None when empty.

    Bins of padding (``in_window`` (B, T) False) are NaN: they are not part of any trial.
    """
    if not paths:
        return None
    parts = []
    num_bins = in_window.shape[1]
    for path in paths:
        series = find_series(nwbfile, path, label, option)
        binned = bin_series(series, read_timing(series, label, path), window_starts, num_bins, width, label, path)
        missing = ~binned.observed & in_window[:, :, None]
        if missing.any():
            window = int(np.flatnonzero(missing.any(axis=(1, 2)))[0])
            raise ExtractionError(
                f"{label}: {option} {path} has no sample in some bins (first in window {window}, starting at "
                f"{window_starts[window]:.6g} s); it must cover every window at least once per bin — use a "
                "--bin-width no shorter than its sample period, or windows inside its time range"
            )
        parts.append(np.where(in_window[:, :, None], binned.values, np.float32(np.nan)))
    return np.concatenate(parts, axis=2)


def _checked_windows(
    mask: np.ndarray, window_starts: np.ndarray, num_bins: int, settings: DataConfig, signal: _Signal, label: str
) -> np.ndarray:
    """Row indices of windows with at least one observed bin; an error naming the windows when there is none."""
    keep = np.flatnonzero(mask.any(axis=(1, 2)))
    if len(keep) == 0:
        valid = signal.valid_intervals_s
        extent = f"{valid[:, 0].min():.6g}–{valid[:, 1].max():.6g} s" if len(valid) else "no time at all"
        span = num_bins * settings.bin_width_s
        raise ExtractionError(
            f"{label}: no window lies inside the recorded data of {signal.series_path or 'units'} ({extent}); the "
            f"windows span {window_starts.min():.6g}–{window_starts.max() + span:.6g} s — check --align/--window"
        )
    return keep


def extract_neural_data(nwbfile: NWBFile, settings: DataConfig, seed: int, label: str) -> NeuralData:
    """Turn one NWB session into model-ready windows (see :class:`NeuralData`).

    Data: ``--series`` when given, else the Units table when it has spikes, else the largest continuous series.
    Windows: the trials table (or ``--intervals NAME``), optionally aligned on a column, else contiguous windows
    over the valid time (units' obs_intervals or the series' range, within ``epochs``, minus ``invalid_times``).
    Windows with no observed bin are dropped. Splits and held-out channels are deterministic given
    ``data.split_seed`` (unset: ``seed``); ``label`` names the source in error messages.
    """
    split_seed = seed if settings.split_seed is None else settings.split_seed
    choice = choose_data(nwbfile, settings, label)
    session = read_session_info(nwbfile, include_spikes=False)
    if choice.path == "units":
        signal = _units_signal(nwbfile, settings, label)
        session.units_ids = signal.units.ids
        session.units_spike_times = signal.units.spike_times
    else:
        signal = _series_signal(nwbfile, choice.path, label)
    has_trials = _trials(nwbfile, session, settings, label)
    if has_trials:
        windows = trial_windows(session, settings.bin_width_s, settings.align, settings.window_s, label)
        window_starts, trial_ids, num_bins, bins_of_data = (
            windows.starts_s, windows.trial_rows, windows.num_bins, windows.bins_of_data
        )
    else:
        if settings.align is not None:
            raise ExtractionError(
                f"{label} has no trials table, so --align {settings.align} cannot be used; pass --intervals NAME to "
                "take rows from another TimeIntervals table"
            )
        valid = valid_time(nwbfile, signal.valid_intervals_s)
        window_starts, trial_ids, num_bins = tiled_windows(valid, settings.bin_width_s, settings.window_length_s, label)
        bins_of_data = np.full(len(window_starts), num_bins, dtype=np.int64)
    in_window = np.arange(num_bins)[None, :] < bins_of_data[:, None]  # (B, T): False on padding
    values, mask, channel_ids, extra = _bin_neural(signal, window_starts, in_window, settings, label)
    keep = _checked_windows(mask, window_starts, num_bins, settings, signal, label)
    dropped = len(window_starts) - len(keep)
    if dropped:  # copying (B, T, D) arrays only when some window must go keeps memory at one copy
        values, mask, window_starts, trial_ids = values[keep], mask[keep], window_starts[keep], trial_ids[keep]
        bins_of_data, in_window = bins_of_data[keep], in_window[keep]
    split_column = session.trials["split"][trial_ids] if has_trials and "split" in session.trials else None
    bin_start_s = window_starts[:, None] + np.arange(num_bins)[None, :] * settings.bin_width_s
    width = settings.bin_width_s
    inputs = _behaviour(nwbfile, settings.inputs, "--inputs", window_starts, in_window, width, label)
    if inputs is not None:
        if settings.zscore:
            inputs = _zscore(inputs, np.broadcast_to(in_window[:, :, None], inputs.shape))[0]
        inputs = np.where(in_window[:, :, None], inputs, np.float32(0.0))  # padding drives the model with zeros
    targets = _behaviour(nwbfile, settings.targets, "--targets", window_starts, in_window, width, label)
    return NeuralData(
        values=values,
        mask=mask,
        bin_start_s=bin_start_s,
        bin_width_s=width,
        trial_ids=trial_ids,
        window_intervals_s=np.stack([window_starts, window_starts + bins_of_data * width], axis=1),
        channel_ids=channel_ids,
        observation=signal.observation,
        data_path=choice.path,
        split=train_val_split(len(window_starts), settings.validation_fraction, split_seed, split_column),
        held_out=held_out_channels(len(channel_ids), settings.heldout_fraction, split_seed, signal.heldout_column),
        session=session,
        inputs=inputs,
        targets=targets,
        input_names=[p.strip("/") for p in settings.inputs],
        target_names=[p.strip("/") for p in settings.targets],
        modality=choice.modality,
        settings={
            "bin_width_s": width,
            "align": settings.align,
            "window_s": settings.window_s,
            "window_length_s": settings.window_length_s,
            "data_path": choice.path,
            "choice_reason": choice.reason,
            "intervals": session.trials_source if has_trials else None,
            "units_where": settings.units_where,
            "zscore": settings.zscore and signal.observation == "continuous",
            "dropped_windows": dropped,
            "padded_windows": int(np.sum(bins_of_data < num_bins)),
            **extra,
        },
    )
