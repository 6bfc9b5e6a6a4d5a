"""Training curves: every per-epoch value of the run's CSV log, one panel per metric."""

from __future__ import annotations

from matplotlib.figure import Figure

from nwb_dyn.report.canvas import NotApplicable, new_figure
from nwb_dyn.report.inputs import ReportInputs

#: At most this many metrics are drawn; losses come first.
_MAX_PANELS = 3


def draw_training_curves(inputs: ReportInputs) -> Figure:
    """Value per epoch of the losses and metrics the run logged."""
    log = inputs.training_log
    if log is None:
        raise NotApplicable(inputs.missing.get("training_log", "no training log"))
    names = sorted(log.curves, key=lambda name: ("loss" not in name, name))[:_MAX_PANELS]
    figure, axes = new_figure(1, len(names))
    for axis, name in zip(axes[0], names):
        epochs, values = log.curves[name]
        axis.plot(epochs, values, marker="o", markersize=3, color="tab:blue")
        axis.set_title(name)
        axis.set_xlabel("epoch")
    figure.suptitle(f"Training curves ({log.origin})")
    figure.tight_layout()
    return figure
