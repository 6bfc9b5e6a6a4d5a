"""The documentation builds with MkDocs in strict mode (warnings fail) and documents every CLI option."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nwb_dyn.cli import build_parser
from tests.conftest import PROJECT_ROOT


def _all_option_strings(parser: argparse.ArgumentParser) -> set[str]:
    options = set()
    for action in parser._actions:
        options.update(s for s in action.option_strings if s.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                options |= _all_option_strings(subparser)
    return options


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    site = tmp_path_factory.mktemp("site")
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert "WARNING" not in completed.stderr, completed.stderr
    return site


def test_every_cli_option_is_in_the_generated_reference(built_site: Path) -> None:
    page = (built_site / "reference" / "cli" / "index.html").read_text()
    missing = sorted(option for option in _all_option_strings(build_parser()) if option not in page)
    assert missing == []
