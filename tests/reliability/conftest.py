"""Fixtures of the reliability suite: the DANDI stand-in of ``tests/sources`` and one tiny finished fit.

The stand-in fixtures are imported (not copied) so the network fault cases talk to the same server as the source
tests. ``finished_fit`` is fitted once per test session; tests that change its files work on a copy.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import run_cli, write_units_session
from tests.sources.conftest import standin, standin_files, standin_server

__all__ = [
    "TINY_FIT_ARGS",
    "FinishedFit",
    "fingerprint",
    "finished_fit",
    "standin",
    "standin_files",
    "standin_server",
]

#: The smallest low-rank fit: one epoch of an 8-unit RNN with 4 particles.
TINY_FIT_ARGS = (
    "--max-epochs",
    "1",
    "--rank",
    "2",
    "--units",
    "8",
    "--particles",
    "4",
    "--batch-size",
    "4",
    "--bin-width",
    "0.05",
)


@dataclass(frozen=True)
class FinishedFit:
    """A source NWB file, the ``--out`` directory of a finished tiny fit of it, and the result file in it.

    ``source_before_fit`` is the source's (sha256, mtime in ns) taken just before the fit ran.
    """

    source: Path
    out: Path
    output: Path
    source_before_fit: tuple[str, int]

    def copy_to(self, directory: Path) -> FinishedFit:
        """The same fit with its ``--out`` directory (result and run directory) copied under ``directory``."""
        out = shutil.copytree(self.out, directory / "out")
        return FinishedFit(self.source, out, out / self.output.name, self.source_before_fit)


def fingerprint(path: Path) -> tuple[str, int]:
    """sha256 and modification time (ns) of ``path``."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.fixture(scope="session")
def finished_fit(tmp_path_factory: pytest.TempPathFactory) -> FinishedFit:
    root = tmp_path_factory.mktemp("finished-fit")
    source = write_units_session(root / "units.nwb", num_units=5, num_trials=6)
    before = fingerprint(source)
    code, stdout, stderr = run_cli("fit", str(source), "--out", str(root / "out"), *TINY_FIT_ARGS)
    assert code == 0, stderr
    return FinishedFit(source, root / "out", Path(stdout.strip().splitlines()[-1]), before)
