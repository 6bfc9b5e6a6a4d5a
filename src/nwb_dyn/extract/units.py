"""Read the Units table in bulk: spike times, observation intervals and the NLB ``heldout`` column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pynwb import NWBFile

from nwb_dyn.errors import ExtractionError
from nwb_dyn.extract.units_where import select_units


@dataclass
class UnitsData:
    """Spike trains of the Units table.

    ``spike_times`` and ``obs_intervals`` hold one array per unit (obs intervals as (n, 2)); ``heldout`` is the
    boolean NLB column when the file has one.
    """

    ids: np.ndarray
    spike_times: list[np.ndarray]
    obs_intervals: list[np.ndarray] | None
    heldout: np.ndarray | None


def _ragged(column_index: object) -> list[np.ndarray]:
    """Read a ragged column with one bulk read of its data and one of its index (never one read per row)."""
    ends = np.asarray(column_index.data[:], dtype=np.int64)
    flat = np.asarray(column_index.target.data[:])
    return [np.asarray(part) for part in np.split(flat, ends[:-1])] if len(ends) else []


def read_units(nwbfile: NWBFile, label: str, units_where: str | None = None) -> UnitsData:
    """Read the Units table of ``nwbfile`` (``label`` names the file in errors).

    ``units_where`` keeps only the rows that satisfy a ``--units-where`` expression (see :mod:`.units_where`).
    Units without any spike are kept (their counts are zero where observed); a table without any spike is refused.
    """
    units = nwbfile.units
    if units is None:
        raise ExtractionError(f"{label} has no Units table; pass --series PATH to fit a continuous series")
    if len(units) == 0:
        raise ExtractionError(f"{label}: the Units table is empty (0 units); nothing to fit from spikes")
    if "spike_times" not in units.colnames:
        raise ExtractionError(
            f"units table in {label} has no 'spike_times' column; pass --series PATH to fit a continuous series"
        )
    keep = np.ones(len(units), dtype=bool) if units_where is None else select_units(units, units_where, label)
    if not keep.any():
        raise ExtractionError(f"{label}: no unit satisfies --units-where '{units_where}'; loosen the expression")
    rows = np.flatnonzero(keep)
    every_train = _ragged(units["spike_times"])
    spike_times = [every_train[row].astype(np.float64) for row in rows]
    if sum(len(t) for t in spike_times) == 0:
        raise ExtractionError(f"{label}: no selected unit in the Units table has any spike; nothing to fit")
    obs_intervals = None
    if "obs_intervals" in units.colnames:
        every = _ragged(units["obs_intervals"])
        obs_intervals = [np.asarray(every[row], dtype=np.float64).reshape(-1, 2) for row in rows]
    heldout = np.asarray(units["heldout"].data[:]).astype(bool)[rows] if "heldout" in units.colnames else None
    return UnitsData(
        ids=np.asarray(units.id[:], dtype=np.int64)[rows],
        spike_times=spike_times,
        obs_intervals=obs_intervals,
        heldout=heldout,
    )
