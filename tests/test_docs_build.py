"""The documentation builds with MkDocs in strict mode (warnings fail) and documents every CLI option."""

from __future__ import annotations

import argparse
import re
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
        check=False,
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


def _spec_names(node: object) -> set[str]:
    """Every type, attribute, dataset and group name anywhere in a spec YAML tree."""
    names: set[str] = set()
    if isinstance(node, dict):
        for key in ("neurodata_type_def", "name"):
            if isinstance(node.get(key), str):
                names.add(node[key])
        for value in node.values():
            names |= _spec_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= _spec_names(item)
    return names


def test_output_format_page_documents_every_type_and_field_of_the_spec(built_site: Path) -> None:
    import yaml

    spec = yaml.safe_load((PROJECT_ROOT / "spec" / "ndx-dyn.extensions.yaml").read_text())
    page = (built_site / "reference" / "output-format" / "index.html").read_text()
    names = _spec_names(spec)
    assert {"LatentSeries", "FixedPointTable", "eigenvalue_reading", "units_region"} <= names
    documented = set(re.findall(r"<code>(?:\w+\.)?(\w+)</code>", page)) | set(re.findall(r'<h2 id="\w+">(\w+)</h2>', page))
    missing = sorted(names - documented)
    assert missing == []


def test_troubleshooting_covers_every_error_type(built_site: Path) -> None:
    from nwb_dyn import errors

    types = [
        value.__name__
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.NwbDynError) and value is not errors.NwbDynError
    ]
    page = (built_site / "troubleshooting" / "index.html").read_text()
    assert len(types) >= 6
    assert [name for name in types if f'<h2 id="{name.lower()}">{name}</h2>' not in page] == []


def test_scaling_guide_is_in_the_navigation(built_site: Path) -> None:
    assert 'href="scaling/"' in (built_site / "index.html").read_text()
