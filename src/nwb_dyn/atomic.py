"""Atomic file replacement, used for every file nwb-dyn writes (results, caches, checkpoints, run records).

A file is written under a temporary name in its destination directory, flushed to disk and renamed over the final
path: a process killed at any moment leaves either the old file (or none) or the complete new one at the final
path, never a partial file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nwb_dyn.errors import OutputError


@contextlib.contextmanager
def atomic_path(final_path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; when the block succeeds it is synced and renamed onto it.

    The temporary name is hidden and keeps the final suffix (``.NAME.XXXX.partial.nwb``), so tools that check
    extensions (pynwb) are content. The temporary file is removed if the block raises.
    """
    directory = final_path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{final_path.name}.", suffix=f".partial{final_path.suffix}", dir=directory
        )
    except OSError as exc:
        raise OutputError(f"cannot write into {directory} ({exc.strerror}); choose a directory you can write to") from None
    os.close(handle)
    temporary_path = Path(temporary)
    # mkstemp creates the file owner-only; a result should get the permissions any new file would (0666 & ~umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary_path, 0o666 & ~umask)
    try:
        yield temporary_path
        with temporary_path.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary_path, final_path)
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
    finally:
        if temporary_path.exists():
            temporary_path.unlink()


def write_bytes_atomically(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(content)


def write_text_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    write_bytes_atomically(path, text.encode("utf-8"))
