"""Atomic file writes: a temporary file in the destination directory, then one rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nwb_dyn.errors import OutputError


def ensure_writable_directory(directory: Path) -> None:
    """Create ``directory`` if needed and raise :class:`OutputError` naming it unless files can be written there.

    Checked before any work starts, so a fit does not train for an hour and then fail to save its result.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the output directory {directory} ({exc.strerror}); pass an --out directory you can "
            "write to"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write into {directory} (permission denied); pass an --out directory you can write to"
        )


@contextlib.contextmanager
def atomic_path(final_path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; on success it is flushed and renamed onto ``final_path``.

    A crash or kill at any moment leaves either the old file (or nothing) or the complete new one at
    ``final_path``, never a partial file. The temporary file is removed if the block raises.
    """
    directory = final_path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{final_path.name}.", suffix=".partial.nwb", dir=directory
        )
    except OSError as exc:
        raise OutputError(
            f"cannot write into {directory} ({exc.strerror}); pass an --out directory you can write to"
        ) from None
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
