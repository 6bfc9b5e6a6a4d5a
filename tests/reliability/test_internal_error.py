"""An internal error (a bug, not the user's input) exits 1 with one line that names a log holding the traceback."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

import nwb_dyn.ls
from tests.helpers import run_cli


def test_internal_error_prints_one_line_and_writes_the_traceback_to_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_list_source(source: str, **options: object) -> list[str]:
        raise ZeroDivisionError("simulated bug in ls")

    monkeypatch.setattr(nwb_dyn.ls, "list_source", broken_list_source)
    monkeypatch.setattr(
        tempfile, "tempdir", str(tmp_path)
    )  # the log goes where this test can find and remove it
    code, stdout, stderr = run_cli("ls", "anything.nwb")
    assert (code, stdout) == (1, "")
    match = re.fullmatch(
        r"nwb-dyn: internal error: ZeroDivisionError: simulated bug in ls; traceback in (\S+\.log)\n", stderr
    )
    assert match is not None, stderr
    log = Path(match[1])
    assert log.parent == tmp_path
    text = log.read_text()
    assert text.startswith("Traceback (most recent call last):")
    assert "in broken_list_source" in text and text.rstrip().endswith(
        "ZeroDivisionError: simulated bug in ls"
    )
