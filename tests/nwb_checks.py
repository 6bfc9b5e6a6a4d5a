"""Checks every NWB file nwb-dyn writes must pass: pynwb validation and nwbinspector below BEST_PRACTICE_VIOLATION."""

from __future__ import annotations

from pathlib import Path

import pynwb
from nwbinspector import Importance, inspect_nwbfile

_BLOCKING = (
    Importance.ERROR,
    Importance.PYNWB_VALIDATION,
    Importance.CRITICAL,
    Importance.BEST_PRACTICE_VIOLATION,
)


def assert_output_clean(path: Path | str) -> None:
    """Fail when pynwb's validator (against the cached spec) reports anything, or nwbinspector reports a message
    of importance BEST_PRACTICE_VIOLATION or worse; the failure lists every message."""
    errors = pynwb.validate(path=str(path))
    assert errors == [], f"pynwb validation of {path}: {[str(error) for error in errors]}"
    messages = [
        message for message in inspect_nwbfile(nwbfile_path=str(path)) if message.importance in _BLOCKING
    ]
    assert messages == [], [
        f"{m.importance.name} {m.check_function_name} {m.location}: {m.message}" for m in messages
    ]
