"""Read the Units table in bulk: spike times, observation intervals and the NLB ``heldout`` column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pynwb import NWBFile

from nwb_dyn.errors import ExtractionError


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


def read_units(nwbfile: NWBFile, label: str) -> UnitsData:
    """Read the Units table of ``nwbfile`` (``label`` names the file in errors)."""
    units = nwbfile.units
    if units is None:
        raise ExtractionError(f"{label} has no Units table; pass --series PATH to fit a continuous series")
    if len(units) == 0:
        raise ExtractionError(f"{label}: the Units table is empty (0 units); nothing to fit from spikes")
    if "spike_times" not in units.colnames:
        raise ExtractionError(
            f"units table in {label} has no 'spike_times' column; pass --series PATH to fit a continuous series"
        )
    spike_times = [times.astype(np.float64) for times in _ragged(units["spike_times"])]
    if sum(len(t) for t in spike_times) == 0:
        raise ExtractionError(f"{label}: no unit in the Units table has any spike; nothing to fit")
    obs_intervals = None
    if "obs_intervals" in units.colnames:
        obs_intervals = [np.asarray(i, dtype=np.float64).reshape(-1, 2) for i in _ragged(units["obs_intervals"])]
    heldout = np.asarray(units["heldout"].data[:]).astype(bool) if "heldout" in units.colnames else None
    return UnitsData(
        ids=np.asarray(units.id[:], dtype=np.int64),
        spike_times=spike_times,
        obs_intervals=obs_intervals,
        heldout=heldout,
    )
