"""Gather what the report draws from one result file: the fit itself, its trials, observed counts, training log.

Everything comes from the result file (which copies the source session's trials and units), except the training
curves, which come from the run directory's CSV log the file records; the source session is never reopened.
Pieces that are absent are ``None`` with a sentence saying why, which the page shows in place of the figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pandas.api.types import is_integer_dtype, is_numeric_dtype, is_object_dtype, is_string_dtype
from pynwb import NWBHDF5IO

from nwb_dyn.results import FitResult, read
from nwb_dyn.training.history import read_training_history

#: Trials-table columns that are bookkeeping, not trial events or conditions.
_NOT_EVENTS = {"start_time", "stop_time"}
_NOT_CONDITIONS = {"split", "data_split", "timeseries", "tags"}
#: Axis label of times on the session clock (fits whose windows were not cut around a trial event).
SESSION_CLOCK_LABEL = "session time (s)"


@dataclass(frozen=True)
class TrialEvents:
    """The session's trials: start_s, stop_s (n,) seconds; events: column name → (n,) event times in seconds;
    condition: (n,) label per trial (the first text or integer column that is not bookkeeping) or None."""

    start_s: np.ndarray
    stop_s: np.ndarray
    events: dict[str, np.ndarray]
    condition: np.ndarray | None
    condition_name: str | None


@dataclass(frozen=True)
class TrainingLog:
    """Per-epoch training curves: metric name → (epochs (E,), values (E,)); ``origin`` says where they came from."""

    origin: str
    curves: dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass
class ReportInputs:
    """One result and what belongs beside it.

    result: the fit as read by :func:`nwb_dyn.results.read`; bin_width_s: bin width in seconds; bin_start_s: (B, T)
    left bin edges of the fitted windows (time order); time_zero_s: (B,) the session time every window's figures
    count from (its alignment event, or 0 for the session clock) and time_label the axis label that says so;
    observed: (B, T, D) spike counts of the modelled units in the same bins, or None; trials, training_log: or None.
    ``missing`` maps each absent piece to why it is absent.
    """

    result: FitResult
    bin_width_s: float
    bin_start_s: np.ndarray
    time_zero_s: np.ndarray
    time_label: str
    observed: np.ndarray | None = None
    trials: TrialEvents | None = None
    training_log: TrainingLog | None = None
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def aligned(self) -> bool:
        """True when the windows were cut around a trial event (times count from it), False for the session clock."""
        return self.time_label != SESSION_CLOCK_LABEL

    def bin_centres(self) -> np.ndarray:
        """(B, T) bin centres in seconds from each window's time zero (its alignment event, or the session start)."""
        return self.bin_start_s + self.bin_width_s / 2 - self.time_zero_s[:, None]


def _bin_width_s(result: FitResult) -> float:
    recorded = result.provenance.get("config", {}).get("data", {}).get("bin_width_s")
    if recorded:
        return float(recorded)
    steps = np.diff(result.per_window(result.timestamps)[0])
    return float(np.median(steps))


def _trials(nwbfile: object) -> TrialEvents | None:
    table = getattr(nwbfile, "trials", None)
    if table is None or len(table) == 0:
        return None
    frame = table.to_dataframe()
    events = {
        name: np.asarray(frame[name], dtype=np.float64)
        for name in frame.columns
        if name.endswith("_time") and name not in _NOT_EVENTS and is_numeric_dtype(frame[name])
    }
    condition_name = next(
        (
            name
            for name in frame.columns
            if name not in _NOT_CONDITIONS
            and not name.endswith("_time")
            and (
                is_string_dtype(frame[name]) or is_object_dtype(frame[name]) or is_integer_dtype(frame[name])
            )
            and 1 < frame[name].astype(str).nunique() <= 20
        ),
        None,
    )
    return TrialEvents(
        start_s=np.asarray(frame["start_time"], dtype=np.float64),
        stop_s=np.asarray(frame["stop_time"], dtype=np.float64),
        events=events,
        condition=None if condition_name is None else np.asarray(frame[condition_name]).astype(str),
        condition_name=condition_name,
    )


def _time_zero(nwbfile: object, result: FitResult) -> tuple[np.ndarray, str]:
    """(B,) time zero of every fitted window and its axis label: the alignment event's time in the window's trial
    (from the trials table, else the window start minus the window's start offset), or the session clock."""
    data = result.provenance.get("config", {}).get("data", {})
    align, window_s = data.get("align"), data.get("window_s")
    windows = result.windows
    if align:
        label = f"time from {align} (s)"
        table = getattr(nwbfile, "trials", None)
        if table is not None and align in table.colnames and np.all(windows.trial < len(table)):
            events = np.asarray(table[align].data[:], dtype=np.float64)[windows.trial]
            if np.all(np.isfinite(events)):
                return events, label
        if window_s:
            return windows.start_s - float(window_s[0]), label
    return np.zeros(len(windows.start_s)), SESSION_CLOCK_LABEL


def _observed_counts(
    nwbfile: object, result: FitResult, bin_start_s: np.ndarray, bin_width_s: float
) -> np.ndarray:
    """(B, T, D) spike counts of the modelled units (rates' channel_ids are Units ids) in the fitted bins."""
    units = nwbfile.units
    row_of_id = {int(unit_id): row for row, unit_id in enumerate(units.id[:])}
    edges = np.concatenate([bin_start_s, bin_start_s[:, -1:] + bin_width_s], axis=1)  # (B, T + 1)
    counts = np.empty((*bin_start_s.shape, len(result.channel_ids)))
    for column, unit_id in enumerate(result.channel_ids):
        spikes = np.sort(np.asarray(units["spike_times"][row_of_id[int(unit_id)]], dtype=np.float64))
        counts[:, :, column] = np.diff(np.searchsorted(spikes, edges, side="left"), axis=1)
    return counts


def _observed_reason(nwbfile: object, result: FitResult) -> str | None:
    """Why observed counts cannot be rebuilt from this file, or None when they can."""
    series = result.provenance.get("config", {}).get("data", {}).get("series")
    if series:
        return f"the fit modelled the continuous series {series}, which the result file does not copy"
    if nwbfile.units is None or "spike_times" not in nwbfile.units.colnames:
        return "the result file carries no units table with spike times"
    known = {int(unit_id) for unit_id in nwbfile.units.id[:]}
    absent = [int(channel) for channel in result.channel_ids if int(channel) not in known]
    if absent:
        return f"modelled units {absent[:5]} are not in the result file's units table"
    return None


def _training_log(result: FitResult) -> tuple[TrainingLog | None, str | None]:
    """Curves stored in the result (``training_summary["history"]``), else read from the run directory's logs."""
    summary = result.stored_model.training_summary
    history = summary.get("history")
    origin = "stored in the result file"
    if not history:
        run_dir = summary.get("run_dir")
        if not run_dir:
            return None, "the result file records no training history (written by an earlier nwb-dyn version)"
        history = read_training_history(Path(run_dir))
        origin = f"read from the run log under {run_dir}"
        if not history:
            return (
                None,
                f"no training log found under {run_dir}/logs (the run directory was moved or deleted)",
            )
    curves = {
        name: (np.asarray(curve["epoch"], dtype=np.int64), np.asarray(curve["value"], dtype=np.float64))
        for name, curve in history.items()
    }
    return TrainingLog(origin=origin, curves=curves), None


def load_report_inputs(path: str | Path) -> ReportInputs:
    """Read the result at ``path`` and everything the report draws beside it (see :class:`ReportInputs`)."""
    result = read(path)
    bin_width_s = _bin_width_s(result)
    bin_start_s = result.per_window(result.timestamps) - bin_width_s / 2
    with NWBHDF5IO(str(path), mode="r") as io:
        nwbfile = io.read()
        time_zero_s, time_label = _time_zero(nwbfile, result)
        inputs = ReportInputs(
            result=result,
            bin_width_s=bin_width_s,
            bin_start_s=bin_start_s,
            time_zero_s=time_zero_s,
            time_label=time_label,
        )
        inputs.trials = _trials(nwbfile)
        if inputs.trials is None:
            inputs.missing["trials"] = "the result file has no trials table"
        reason = _observed_reason(nwbfile, result)
        if reason is None:
            inputs.observed = _observed_counts(nwbfile, result, bin_start_s, bin_width_s)
        else:
            inputs.missing["observed"] = reason
    inputs.training_log, reason = _training_log(result)
    if reason is not None:
        inputs.missing["training_log"] = reason
    return inputs
