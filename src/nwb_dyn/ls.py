"""``nwb-dyn ls SOURCE``: what a source holds that can be fitted, read from metadata (no data arrays).

For a dandiset: its NWB assets with sizes and ids; for each asset (or a local/URL file) the inventory of
:func:`nwb_dyn.extract.inventory.describe_fittable`: units and spike counts, every time series with shape, rate and
unit, the trials table and its columns, and what ``fit`` would choose by default.
"""

from __future__ import annotations

from pathlib import Path

from pynwb import NWBFile

from nwb_dyn.extract.inventory import describe_fittable
from nwb_dyn.sources import SourceOptions, SourceRef, resolve_sources


def describe_nwbfile(nwbfile: NWBFile) -> list[str]:
    """Indented lines describing the fittable content of an open NWB file and the default choice."""
    return [f"  {line}" for line in describe_fittable(nwbfile).lines()]


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
