"""Output-directory checks; results are written with :func:`nwb_dyn.atomic.atomic_path`."""

from __future__ import annotations

import os
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
