"""Where a session came from: recorded in every output so a result can be traced to its exact input bytes."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceIdentity:
    """Identity of one NWB source file.

    ``kind`` is ``"local"``, ``"url"`` or ``"dandi"``. Local files are identified by path and sha256; DANDI assets by
    dandiset id, version, asset path, asset id and the archive's digest; URLs by URL and ETag.
    """

    kind: str
    location: str
    sha256: str | None = None
    etag: str | None = None
    dandiset_id: str | None = None
    dandiset_version: str | None = None
    asset_path: str | None = None
    asset_id: str | None = None
    api_url: str | None = None
    size_bytes: int | None = None

    @property
    def display_name(self) -> str:
        """A short human name: the asset path or the file name."""
        return self.asset_path or Path(self.location).name

    def to_dict(self) -> dict[str, str | int | None]:
        return asdict(self)


def sha256_of_file(path: Path, block_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks so memory stays flat for large files."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(block_bytes), b""):
            digest.update(block)
    return digest.hexdigest()
