"""No command changes its inputs: every ``nwb-dyn`` command leaves the source's (and a result's) bytes and mtime alone.

``fit`` is checked on the suite's shared fit (its source's fingerprint is taken just before it ran); ``ls``,
``evaluate``, ``report`` and ``select`` run here on that source and its result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nwb_dyn.cli import build_parser
from tests.helpers import run_cli
from tests.reliability.conftest import FinishedFit, fingerprint

TINY_CONFIG = "lowrank:\n  units: 8\n  particles: 4\ndata:\n  batch_size: 4\n  bin_width_s: 0.05\n"


def _command_names() -> set[str]:
    (commands,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(commands.choices)


def test_every_command_leaves_source_and_result_unchanged(finished_fit: FinishedFit, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    source, result = finished_fit.source, finished_fit.output
    assert fingerprint(source) == finished_fit.source_before_fit, "'nwb-dyn fit' changed its source"
    commands = {
        "ls": ("ls", str(source)),
        "evaluate": ("evaluate", str(result), "--json"),
        "report": ("report", str(result), "--out", str(tmp_path / "report")),
        "select": (
            "select",
            str(source),
            "--model",
            "lowrank",
            "--rank",
            "2",
            "--seeds",
            "1",
            "--max-epochs",
            "1",
            "--config",
            str(config),
            "--out",
            str(tmp_path / "select"),
        ),
    }
    assert {"fit", *commands} == _command_names(), "a command was added or removed: cover it here"
    expected = {path: fingerprint(path) for path in (source, result)}
    for name, argv in commands.items():
        code, stdout, stderr = run_cli(*argv)
        assert code == 0, (name, stderr)
        assert stdout.strip(), name  # each command printed its answer
        assert {path: fingerprint(path) for path in expected} == expected, (
            f"'nwb-dyn {name}' changed its input"
        )
