"""nwb-dyn: interpretable neural dynamics from NWB/DANDI recordings, written back as NWB.

The Python façade mirrors the command line: ``nwb_dyn.fit(source, model="lowrank", out="results/")``.
Heavy dependencies (torch, Lightning) are imported only when a fit runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nwb_dyn.api import FitOutcome


def fit(source: str, model: str = "lowrank", out: str = "nwb-dyn-out", **options: Any) -> FitOutcome:
    """Fit ``model`` to every session named by ``source`` and write one derived NWB file per session under ``out``.

    See :func:`nwb_dyn.api.fit` for the options (they match ``nwb-dyn fit --help``).
    """
    from nwb_dyn.api import fit as _fit

    return _fit(source, model=model, out=out, **options)


__all__ = ["__version__", "fit"]
