"""What an NWB viewer that reads datasets directly (Neurosift through LINDI) needs from every object we write.

Neurosift's time-series view plots a group holding a 1-D or 2-D ``data`` dataset and a ``timestamps`` or
``starting_time`` dataset; an HDF5 soft or external link in their place is not followed, and the series gets no plot.
Its table view shows 1-D columns; a 2-D column shows as "<>" in every cell.
"""

from __future__ import annotations

from pathlib import Path

import h5py

#: neurodata types (ours and the core ones we write) that are time series, and those that are tables.
TIME_SERIES_TYPES = {
    "TimeSeries",
    "LatentSeries",
    "RateSeries",
    "DiscreteStateSeries",
    "StateProbabilitySeries",
    "GeneratedSeries",
}
TABLE_TYPES = {"DynamicTable", "TimeIntervals", "StateSegments", "FixedPointTable"}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def viewer_problems(path: Path | str, root: str = "processing") -> list[str]:
    """Every time series under ``root`` whose data or time base a viewer cannot read as its own dataset, and every
    table column under ``root`` that is not 1-D; empty when a viewer can show everything."""
    problems: list[str] = []
    with h5py.File(path, "r") as handle:
        groups: list[tuple[str, h5py.Group]] = []
        handle[root].visititems(
            lambda name, item: (
                groups.append((f"/{root}/{name}", item)) if isinstance(item, h5py.Group) else None
            )
        )
        for name, group in groups:
            kind = _text(group.attrs.get("neurodata_type", ""))
            if kind in TIME_SERIES_TYPES:
                problems.extend(_series_problems(name, group))
            elif kind in TABLE_TYPES:
                problems.extend(_table_problems(name, group))
    return problems


def _series_problems(name: str, group: h5py.Group) -> list[str]:
    problems = []
    for member in ("data", "timestamps", "starting_time"):
        link = group.get(member, getlink=True)
        if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
            problems.append(f"{name}/{member} is a {type(link).__name__}, not a dataset of its own")
    if "timestamps" not in group and "starting_time" not in group:
        problems.append(f"{name} has neither timestamps nor starting_time")
    data = group.get("data")
    if isinstance(data, h5py.Dataset) and data.ndim not in (1, 2):
        problems.append(f"{name}/data is {data.ndim}-D; viewers plot 1-D or 2-D series")
    return problems


def _table_problems(name: str, group: h5py.Group) -> list[str]:
    problems = []
    for column in _text_list(group.attrs.get("colnames", [])):
        dataset = group.get(column)
        if isinstance(dataset, h5py.Dataset) and dataset.ndim != 1:
            problems.append(f"{name}/{column} is a {dataset.ndim}-D column; viewers show 1-D columns")
    return problems


def _text_list(values: object) -> list[str]:
    return [_text(value) for value in values]
