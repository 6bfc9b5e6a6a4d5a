"""The ``ndx-dyn`` NWB extension: namespace loading and container classes (no torch here).

The namespace is loaded from the installed copy of ``spec/`` (``nwb_dyn/spec`` in the wheel) when this package is
imported, then the hand-written classes of :mod:`nwb_dyn.ndx.containers` are registered against it.
"""

from __future__ import annotations

from pathlib import Path

from pynwb import load_namespaces

NAMESPACE = "ndx-dyn"
SPEC_DIR = Path(__file__).resolve().parents[1] / "spec"
NAMESPACE_PATH = SPEC_DIR / f"{NAMESPACE}.namespace.yaml"

load_namespaces(str(NAMESPACE_PATH))

# The classes register against the namespace, so it must be loaded before they are imported.
from nwb_dyn.ndx.containers import (
    DiscreteStateSeries,
    DynamicsModel,
    FitProvenance,
    FixedPointTable,
    GeneratedSeries,
    LatentSeries,
    ModelParameter,
    RateSeries,
    StateProbabilitySeries,
    StateSegments,
)

__all__ = [
    "NAMESPACE",
    "NAMESPACE_PATH",
    "DiscreteStateSeries",
    "DynamicsModel",
    "FitProvenance",
    "FixedPointTable",
    "GeneratedSeries",
    "LatentSeries",
    "ModelParameter",
    "RateSeries",
    "StateProbabilitySeries",
    "StateSegments",
]
