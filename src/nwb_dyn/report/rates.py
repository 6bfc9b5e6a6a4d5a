"""Observed against reconstructed activity for example units: window-averaged rates (PSTH-like) over time."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from nwb_dyn.report.canvas import NotApplicable, new_figure
from nwb_dyn.report.inputs import ReportInputs

#: How many example units are drawn (the most active ones).
NUM_EXAMPLE_UNITS = 4


def example_units(observed: np.ndarray, count: int = NUM_EXAMPLE_UNITS) -> np.ndarray:
    """Column indices of the ``count`` units with the highest mean count in observed (B, T, D), most active first."""
    return np.argsort(-observed.mean(axis=(0, 1)), kind="stable")[:count]


def draw_observed_vs_reconstructed(inputs: ReportInputs) -> Figure:
    """Per example unit: mean observed rate over windows (Hz) against the model's mean predicted rate, ± 1 s.e.m."""
    if inputs.observed is None:
        raise NotApplicable(inputs.missing.get("observed", "no observed spike counts"))
    result = inputs.result
    predicted = result.per_window(result.rates) / inputs.bin_width_s  # (B, T, D) Hz
    observed = inputs.observed / inputs.bin_width_s
    if inputs.aligned:  # every window spans the same times around its event
        times, time_label = np.median(inputs.bin_centres(), axis=0), inputs.time_label
    else:
        times = np.arange(observed.shape[1]) * inputs.bin_width_s + inputs.bin_width_s / 2
        time_label = "time from window start (s)"
    units = example_units(inputs.observed)
    figure, axes = new_figure(2, 2, sharex=True)
    for axis, column in zip(axes.reshape(-1), units):
        mean = observed[:, :, column].mean(axis=0)
        sem = observed[:, :, column].std(axis=0) / np.sqrt(len(observed))
        axis.fill_between(times, mean - sem, mean + sem, color="0.8", step="mid")
        axis.step(times, mean, where="mid", color="black", linewidth=1, label="observed (mean over windows)")
        axis.plot(times, predicted[:, :, column].mean(axis=0), color="tab:red", linewidth=1.5, label="model")
        held_out = result.held_out is not None and bool(result.held_out[column])
        title = f"unit id {int(result.channel_ids[column])}" + (" (held out: predicted)" if held_out else "")
        axis.set_title(title, fontsize=10)
        axis.set_ylabel("rate (Hz)")
        if inputs.aligned:
            axis.axvline(0.0, color="0.5", linestyle="--", linewidth=0.8)
    for axis in axes.reshape(-1)[len(units) :]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel(time_label)
    axes[0, 0].legend(fontsize=8)
    figure.suptitle("Observed vs reconstructed rates, most active units")
    figure.tight_layout()
    return figure
