"""Find every TimeSeries of an NWB file by its path (``acquisition/X``, ``processing/ecephys/LFP/ElectricalSeries``)."""

from __future__ import annotations

from typing import Any

from pynwb import NWBFile, TimeSeries

from nwb_dyn.errors import ExtractionError

#: How deep to look inside containers such as ``Fluorescence`` → ``RoiResponseSeries`` (NWB nests at most two levels).
_MAX_DEPTH = 3


def _visit(path: str, container: Any, found: dict[str, TimeSeries], depth: int) -> None:
    if isinstance(container, TimeSeries):
        found[path] = container
        return
    if depth >= _MAX_DEPTH:
        return
    for child in getattr(container, "children", ()) or ():
        name = getattr(child, "name", None)
        if name is not None:
            _visit(f"{path}/{name}", child, found, depth + 1)


def series_by_path(nwbfile: NWBFile) -> dict[str, TimeSeries]:
    """Every TimeSeries under ``acquisition/``, ``stimulus/`` and ``processing/<module>/``, keyed by its path.

    Paths use the names the HDF5 file uses, so a user can copy them from HDFView, Neurosift or ``nwb-dyn ls``.
    """
    found: dict[str, TimeSeries] = {}
    for name, container in nwbfile.acquisition.items():
        _visit(f"acquisition/{name}", container, found, 0)
    for name, container in nwbfile.stimulus.items():
        _visit(f"stimulus/{name}", container, found, 0)
    for module_name, module in nwbfile.processing.items():
        for name, container in module.data_interfaces.items():
            _visit(f"processing/{module_name}/{name}", container, found, 0)
    return found


def find_series(nwbfile: NWBFile, path: str, label: str, option: str) -> TimeSeries:
    """The TimeSeries at ``path`` (a leading ``/`` is ignored); ``option`` names the CLI option in the error."""
    available = series_by_path(nwbfile)
    series = available.get(path.strip("/"))
    if series is None:
        listing = ", ".join(sorted(available)) or "none"
        raise ExtractionError(
            f"{label}: {option} {path}: no TimeSeries at that path; the file's series are: {listing}"
        )
    return series
