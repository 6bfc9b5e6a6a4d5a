"""The checked-in ``spec/`` is what the builder generates, is a valid NWB schema, and is loaded at import."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import yaml
from pynwb import get_type_map

from nwb_dyn.ndx import NAMESPACE, NAMESPACE_PATH
from nwb_dyn.ndx.build_spec import VERSION, write_spec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = PROJECT_ROOT / "spec"


def test_checked_in_spec_is_what_the_builder_writes(tmp_path: Path) -> None:
    write_spec(tmp_path)
    for name in (f"{NAMESPACE}.namespace.yaml", f"{NAMESPACE}.extensions.yaml"):
        assert yaml.safe_load((tmp_path / name).read_text()) == yaml.safe_load(
            (SPEC_DIR / name).read_text()
        ), f"spec/{name} is stale; run python src/nwb_dyn/ndx/build_spec.py"


def test_namespace_is_version_0_3_0_and_loaded_from_the_package_copy() -> None:
    namespace = yaml.safe_load(NAMESPACE_PATH.read_text())["namespaces"][0]
    assert (namespace["name"], namespace["version"], VERSION) == (NAMESPACE, "0.3.0", "0.3.0")
    assert NAMESPACE_PATH.resolve() == (SPEC_DIR / f"{NAMESPACE}.namespace.yaml").resolve()
    assert NAMESPACE in get_type_map().namespace_catalog.namespaces


def test_spec_validates_against_the_nwb_metaschema() -> None:
    metaschema = Path(importlib.util.find_spec("pynwb").origin).parent / "nwb-schema" / "nwb.schema.json"
    validator = Path(sys.executable).parent / "validate_hdmf_spec"
    completed = subprocess.run(
        [str(validator), str(SPEC_DIR), "-m", str(metaschema)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_every_type_extends_the_core_type_viewers_know() -> None:
    expected_parent = {
        "LatentSeries": "TimeSeries",
        "DiscreteStateSeries": "TimeSeries",
        "StateProbabilitySeries": "TimeSeries",
        "RateSeries": "TimeSeries",
        "GeneratedSeries": "TimeSeries",
        "StateSegments": "TimeIntervals",
        "FixedPointTable": "DynamicTable",
        "DynamicsModel": "NWBDataInterface",
        "FitProvenance": "NWBDataInterface",
        "ModelParameter": "NWBData",
    }
    specs = yaml.safe_load((SPEC_DIR / f"{NAMESPACE}.extensions.yaml").read_text())
    declared = {
        spec["neurodata_type_def"]: spec["neurodata_type_inc"] for key in specs for spec in specs[key]
    }
    assert declared == expected_parent
