"""Turn a SOURCE string into one :class:`SourceRef` per NWB session it names."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pynwb import NWBFile

from nwb_dyn.errors import SourceError
from nwb_dyn.sources.identity import SourceIdentity, sha256_of_file
from nwb_dyn.sources.local import check_local_nwb, open_nwb_file


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


def resolve_sources(source: str) -> list[SourceRef]:
    """Resolve ``source`` (a local path) to the sessions it names."""
    if not source or not source.strip():
        raise SourceError("SOURCE is empty; pass a path to an .nwb file")
    return [_local_ref(Path(source).expanduser())]
