"""Session metadata, trials and units copied from a source file into the derived output."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hdmf.common import DynamicTable
from pynwb import NWBFile


@dataclass
class SessionInfo:
    """What the derived NWB file carries over from its source.

    ``trials`` maps column name → 1-D array (numeric or str), including ``start_time`` and ``stop_time``: the rows the
    windows come from, read from the table named ``trials_source`` (``"trials"``, or the ``--intervals`` table).
    ``units_spike_times`` holds one float64 array per unit, aligned with ``units_ids``.
    """

    identifier: str
    session_description: str
    session_start_time: datetime.datetime
    session_id: str | None = None
    institution: str | None = None
    lab: str | None = None
    experimenter: list[str] = field(default_factory=list)
    subject: dict[str, str] = field(default_factory=dict)
    trials: dict[str, np.ndarray] = field(default_factory=dict)
    trial_column_descriptions: dict[str, str] = field(default_factory=dict)
    trials_source: str = "trials"
    units_ids: np.ndarray | None = None
    units_spike_times: list[np.ndarray] = field(default_factory=list)
    units_resolution_s: float | None = None


SUBJECT_FIELDS = ("subject_id", "species", "sex", "age", "description", "strain", "genotype")


def _plain_column(values: Any) -> np.ndarray | None:
    """A trials column as a 1-D numpy array, or None when it is ragged, nested or a reference."""
    try:
        array = np.asarray(values[:])
    except Exception:  # noqa: BLE001 — references and ragged columns fail in many ways; all mean "not plain"
        return None
    if array.ndim != 1 or array.dtype == object and not all(isinstance(v, str) for v in array):
        return None
    if array.dtype.kind in "SO":
        array = array.astype(str)
    return array


def _units_resolution(nwbfile: NWBFile) -> float | None:
    """The Units table's spike-time ``resolution`` in seconds, or None when the source did not record one."""
    resolution = getattr(nwbfile.units, "resolution", None) if nwbfile.units is not None else None
    return float(resolution) if resolution is not None and np.isfinite(resolution) and resolution > 0 else None


def table_columns(table: DynamicTable | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The plain one-value-per-row columns of a trials-like table (column → (rows,) array) and their descriptions.

    Ragged, nested and reference columns are left out; an absent or empty table gives two empty mappings.
    """
    columns: dict[str, np.ndarray] = {}
    descriptions: dict[str, str] = {}
    if table is None or len(table) == 0:
        return columns, descriptions
    for column in table.columns:
        if column.name.endswith("_index"):
            continue
        array = _plain_column(column.data)
        if array is not None and len(array) == len(table):
            columns[column.name] = array
            descriptions[column.name] = column.description or column.name
    return columns, descriptions


def read_session_info(nwbfile: NWBFile, include_spikes: bool = True) -> SessionInfo:
    """Collect session metadata, the trials table and unit spike times from an open NWB file."""
    subject: dict[str, str] = {}
    if nwbfile.subject is not None:
        for name in SUBJECT_FIELDS:
            value = getattr(nwbfile.subject, name, None)
            if value:
                subject[name] = str(value)
    trials, descriptions = table_columns(nwbfile.trials)
    units_ids = None
    spike_times: list[np.ndarray] = []
    if include_spikes and nwbfile.units is not None and "spike_times" in nwbfile.units.colnames:
        units_ids = np.asarray(nwbfile.units.id[:], dtype=np.int64)
        index = np.asarray(nwbfile.units["spike_times"].data[:], dtype=np.int64)
        flat = np.asarray(nwbfile.units["spike_times"].target.data[:], dtype=np.float64)
        spike_times = np.split(flat, index[:-1]) if len(index) else []
    return SessionInfo(
        identifier=str(nwbfile.identifier),
        session_description=str(nwbfile.session_description or "no description"),
        session_start_time=nwbfile.session_start_time,
        session_id=nwbfile.session_id,
        institution=nwbfile.institution,
        lab=nwbfile.lab,
        experimenter=[str(e) for e in (nwbfile.experimenter or [])],
        subject=subject,
        trials=trials,
        trial_column_descriptions=descriptions,
        units_ids=units_ids,
        units_spike_times=list(spike_times),
        units_resolution_s=_units_resolution(nwbfile),
    )
