"""``nwb-dyn ls SOURCE``: what a source holds that can be fitted, read from metadata (no data arrays).

For a dandiset: its NWB assets with sizes and ids; for each asset (or a local/URL file): the units and their spike
counts (from the small spike-times index, not the spike times), every time series with shape, rate and unit, and the
trials table with its columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pynwb import NWBFile, TimeSeries

from nwb_dyn.sources import SourceOptions, SourceRef, resolve_sources


def _units_lines(nwbfile: NWBFile) -> Iterator[str]:
    units = nwbfile.units
    if units is None:
        yield "  units: none"
        return
    if "spike_times" not in units.colnames:
        yield f"  units: {len(units)} (no spike_times column)"
        return
    ends = np.asarray(units["spike_times"].data[:], dtype=np.int64)  # cumulative end offsets: one small read
    counts = np.diff(np.concatenate([[0], ends]))
    spread = f", {counts.min()}–{counts.max()} per unit" if len(counts) else ""
    columns = ", ".join(c for c in units.colnames if c != "spike_times")
    yield f"  units: {len(units)} with {int(counts.sum())} spikes{spread}; other columns: {columns or 'none'}"


def _timing(series: TimeSeries) -> str:
    if series.rate is not None:
        return f"{series.rate:g} Hz from t={series.starting_time or 0.0:g} s"
    if series.timestamps is not None:
        return f"{len(series.timestamps)} timestamps"
    return "no timing"


def _series_lines(nwbfile: NWBFile) -> Iterator[str]:
    series = sorted(
        (obj for obj in nwbfile.objects.values() if isinstance(obj, TimeSeries)),
        key=lambda obj: _object_path(obj),
    )
    if not series:
        yield "  series: none"
        return
    yield f"  series: {len(series)}"
    for obj in series:
        shape = getattr(obj.data, "shape", None)
        shape_text = "x".join(str(n) for n in shape) if shape is not None else "external"
        yield f"    {_object_path(obj)} ({obj.neurodata_type}): {shape_text}, {_timing(obj)}, unit {obj.unit}"


def _object_path(obj: TimeSeries) -> str:
    """The series' path inside the file (``acquisition/hand_vel``), from its data's HDF5 name when it has one."""
    dataset_name = getattr(obj.data, "name", None)
    if isinstance(dataset_name, str) and dataset_name.startswith("/"):
        return dataset_name.rsplit("/", 1)[0].lstrip("/")
    names = []
    node = obj
    while node is not None and node.parent is not None:
        names.append(node.name)
        node = node.parent
    return "/".join(reversed(names))


def _trials_lines(nwbfile: NWBFile) -> Iterator[str]:
    tables = dict(nwbfile.intervals or {})
    if nwbfile.trials is not None:
        tables["trials"] = nwbfile.trials
    if "trials" not in tables:
        yield "  trials: none"
    for name in sorted(tables, key=lambda n: (n != "trials", n)):
        table = tables[name]
        yield (
            f"  {'trials' if name == 'trials' else 'intervals/' + name}: {len(table)} rows; columns: "
            + ", ".join(c for c in table.colnames)
        )


def describe_nwbfile(nwbfile: NWBFile) -> list[str]:
    """Indented lines describing the fittable content of an open NWB file."""
    return [*_units_lines(nwbfile), *_series_lines(nwbfile), *_trials_lines(nwbfile)]


def _header(ref: SourceRef) -> str:
    identity = ref.identity
    if identity.kind == "dandi":
        return f"{identity.asset_path}  {identity.size_bytes:,} bytes  asset {identity.asset_id}"
    size = f"  {identity.size_bytes:,} bytes" if identity.size_bytes is not None else ""
    return f"{identity.location}{size}"


def list_source(
    source: str,
    asset: str | None = None,
    dandi_api_url: str | None = None,
    cache_dir: str | Path | None = None,
    download: bool = False,
) -> list[str]:
    """The ``ls`` report for ``source`` as lines (remote files are streamed unless ``download``; metadata only)."""
    options = SourceOptions(
        asset_glob=asset,
        dandi_api_url=dandi_api_url,
        cache_dir=None if cache_dir is None else Path(cache_dir).expanduser(),
        download=download,
    )
    refs = resolve_sources(source, options)
    lines: list[str] = []
    first = refs[0].identity
    if first.kind == "dandi":
        total = sum(ref.identity.size_bytes or 0 for ref in refs)
        lines.append(
            f"DANDI:{first.dandiset_id}/{first.dandiset_version} on {first.api_url}: "
            f"{len(refs)} NWB asset(s), {total:,} bytes"
        )
    for ref in refs:
        lines.append(_header(ref))
        with ref.open() as nwbfile:
            lines.extend(describe_nwbfile(nwbfile))
    return lines
