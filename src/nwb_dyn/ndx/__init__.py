"""The ``ndx-dyn`` NWB extension: namespace loading and container classes (no torch here)."""

from __future__ import annotations

from pathlib import Path

from pynwb import get_class, load_namespaces

NAMESPACE = "ndx-dyn"
SPEC_DIR = Path(__file__).resolve().parents[1] / "spec"
NAMESPACE_PATH = SPEC_DIR / f"{NAMESPACE}.namespace.yaml"

load_namespaces(str(NAMESPACE_PATH))

LatentSeries = get_class("LatentSeries", NAMESPACE)
DynamicsModel = get_class("DynamicsModel", NAMESPACE)

__all__ = ["NAMESPACE", "NAMESPACE_PATH", "LatentSeries", "DynamicsModel"]
