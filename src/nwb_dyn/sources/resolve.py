"""Turn a SOURCE string into one :class:`SourceRef` per NWB session it names.

Resolving is cheap: it learns identities (for cache keys and provenance) but opens nothing. ``SourceRef.open()``
streams (or, with ``download``, fetches) the bytes only when a session's extracted arrays are not cached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from pynwb import NWBFile

from nwb_dyn.errors import SourceError
from nwb_dyn.sources.dandi import DandiArchive, DandiAsset, DandiSelection
from nwb_dyn.sources.http import RemoteFile, download_file
from nwb_dyn.sources.identity import SourceIdentity, sha256_of_file
from nwb_dyn.sources.local import check_local_nwb, open_nwb_file
from nwb_dyn.sources.options import SourceOptions
from nwb_dyn.sources.parse import DandiTarget, LocalTarget, UrlTarget, parse_source


@dataclass(frozen=True)
class SourceRef:
    """One NWB session to fit: its identity and a way to open it read-only.

    ``open()`` is a context manager yielding a pynwb ``NWBFile``; the file is closed when the block ends.
    """

    identity: SourceIdentity
    opener: Callable[[], contextlib.AbstractContextManager[NWBFile]]

    def open(self) -> contextlib.AbstractContextManager[NWBFile]:
        return self.opener()


def _local_ref(path: Path) -> SourceRef:
    check_local_nwb(path)
    identity = SourceIdentity(
        kind="local",
        location=str(path.resolve()),
        sha256=sha256_of_file(path),
        size_bytes=path.stat().st_size,
    )

    @contextlib.contextmanager
    def opener() -> Iterator[NWBFile]:
        with open_nwb_file(path, str(path)) as nwbfile:
            yield nwbfile

    return SourceRef(identity=identity, opener=opener)


@contextlib.contextmanager
def open_remote_nwb(url: str, label: str, dandi: bool = False) -> Iterator[NWBFile]:
    """Stream the NWB file at ``url`` with Range requests; ``label`` names it in error messages."""
    with requests.Session() as session:
        remote = RemoteFile(url, session=session, dandi=dandi)
        try:
            with open_nwb_file(remote, label) as nwbfile:
                yield nwbfile
        except Exception:
            if remote.failure is not None:  # the network failed under h5py: report that, not h5py's symptom
                raise remote.failure from None
            raise


def _url_ref(url: str) -> SourceRef:
    # One small request now: the size and ETag identify the content (the ETag keys the extraction cache).
    with requests.Session() as session:
        probe = RemoteFile(url, session=session)
    identity = SourceIdentity(kind="url", location=url, etag=probe.etag, size_bytes=probe.size)
    return SourceRef(identity=identity, opener=lambda: open_remote_nwb(url, url))


def _download_name(asset: DandiAsset) -> str:
    # Named by content id, never by the archive's path, so no listed path can place a file outside the cache.
    return f"{(asset.sha256 or asset.asset_id).replace('/', '_')}.nwb"


def _dandi_ref(
    archive: DandiArchive, selection: DandiSelection, asset: DandiAsset, options: SourceOptions
) -> SourceRef:
    label = f"DANDI:{selection.dandiset_id}/{selection.version}/{asset.path}"
    identity = SourceIdentity(
        kind="dandi",
        location=label,
        sha256=asset.sha256,
        etag=asset.etag,
        dandiset_id=selection.dandiset_id,
        dandiset_version=selection.version,
        asset_path=asset.path,
        asset_id=asset.asset_id,
        api_url=archive.api_url,
        size_bytes=asset.size,
    )

    @contextlib.contextmanager
    def opener() -> Iterator[NWBFile]:
        url = archive.content_url(selection.dandiset_id, selection.version, asset)
        if not options.download:
            with open_remote_nwb(url, label, dandi=True) as nwbfile:
                yield nwbfile
            return
        local = options.cache_root() / "downloads" / _download_name(asset)
        if local.exists() and (asset.sha256 is None or sha256_of_file(local) != asset.sha256):
            local.unlink()  # unverifiable or corrupt: fetch it again
        if not local.exists():
            download_file(url, local, asset.sha256, dandi=True)
        with open_nwb_file(local, label) as nwbfile:
            yield nwbfile

    return SourceRef(identity=identity, opener=opener)


def resolve_sources(source: str, options: SourceOptions | None = None) -> list[SourceRef]:
    """Resolve ``source`` (a path, an http(s) URL or a dandiset reference) to the sessions it names."""
    options = options or SourceOptions()
    target = parse_source(source)
    if isinstance(target, LocalTarget):
        if options.asset_glob is not None:
            raise SourceError(
                f"--asset narrows a dandiset's assets; {source} is a single file, so drop --asset"
            )
        return [_local_ref(target.path)]
    if isinstance(target, UrlTarget):
        if options.asset_glob is not None:
            raise SourceError(
                f"--asset narrows a dandiset's assets; {source} is a single file, so drop --asset"
            )
        return [_url_ref(target.url)]
    return _dandi_refs(target, options)


def _dandi_refs(target: DandiTarget, options: SourceOptions) -> list[SourceRef]:
    archive = DandiArchive(options.api_url(), options.cache_root())
    selection = archive.select(target, options.asset_glob)
    return [_dandi_ref(archive, selection, asset, options) for asset in selection.assets]
