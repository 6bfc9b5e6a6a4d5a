"""Posterior latent trajectories per window, coloured by discrete state, by trial condition, or by window."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from nwb_dyn.report.canvas import new_figure, state_colours
from nwb_dyn.report.inputs import ReportInputs

#: At most this many windows are drawn, so trajectories stay distinguishable.
_MAX_WINDOWS = 40


def principal_plane(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Project latents (N, R) onto 2 plotted coordinates: the latents themselves for R ≤ 2, else the first two PCs.

    Returns (N, 2) coordinates (second column zero when R = 1), the (R,) origin subtracted, and axis labels.
    """
    rows = np.asarray(latents, dtype=np.float64)
    if rows.shape[1] == 1:
        return np.column_stack([rows[:, 0], np.zeros(len(rows))]), np.zeros(1), ["latent 1", ""]
    if rows.shape[1] == 2:
        return rows, np.zeros(2), ["latent 1", "latent 2"]
    origin = rows.mean(axis=0)
    _, _, basis = np.linalg.svd(rows - origin, full_matrices=False)
    return (rows - origin) @ basis[:2].T, origin, ["PC 1 of latents", "PC 2 of latents"]


def _colouring(inputs: ReportInputs) -> tuple[np.ndarray, list[str], str]:
    """(B, T) integer colour index per bin, the legend label of each index, and what the colours mean."""
    result = inputs.result
    num_windows, num_bins = inputs.bin_start_s.shape
    if result.states is not None:
        states = result.per_window(result.states)
        count = result.num_states or int(states.max()) + 1
        return states, [f"state {k}" for k in range(count)], "discrete state"
    trials = inputs.trials
    if (
        trials is not None
        and trials.condition is not None
        and np.all(result.windows.trial < len(trials.condition))
    ):
        labels, index = np.unique(trials.condition[result.windows.trial], return_inverse=True)
        return (
            np.repeat(index[:, None], num_bins, axis=1),
            [str(label) for label in labels],
            trials.condition_name,
        )
    return np.repeat(np.arange(num_windows)[:, None] % 10, num_bins, axis=1), [], "window"


def draw_latent_trajectories(inputs: ReportInputs) -> Figure:
    """Left: trajectories in the latent plane (or its PCA plane); right: the first coordinate against time."""
    result = inputs.result
    plane, _, axis_labels = principal_plane(result.latents)
    per_window = result.per_window(plane)  # (B, T, 2)
    colour_index, legend, meaning = _colouring(inputs)
    colours = state_colours(max(int(colour_index.max()) + 1, 1))
    times = inputs.bin_start_s - inputs.bin_start_s[:, :1]
    # a readable subset: at most _MAX_WINDOWS windows, evenly spread over the session
    shown = np.unique(np.linspace(0, len(per_window) - 1, min(len(per_window), _MAX_WINDOWS)).astype(int))
    per_window, colour_index, times = per_window[shown], colour_index[shown], times[shown]
    figure, axes = new_figure(1, 2)
    trajectories, time_course = axes[0]
    for window in range(len(per_window)):
        trajectories.plot(*per_window[window].T, color="0.75", linewidth=0.6, zorder=1)
        time_course.plot(times[window], per_window[window, :, 0], color="0.8", linewidth=0.6, zorder=1)
    flat_colours = colours[colour_index.reshape(-1)]
    trajectories.scatter(*per_window.reshape(-1, 2).T, c=flat_colours, s=6, zorder=2)
    time_course.scatter(times.reshape(-1), per_window[..., 0].reshape(-1), c=flat_colours, s=4, zorder=2)
    for index, label in enumerate(legend):
        trajectories.scatter([], [], color=colours[index], s=20, label=label)
    if legend:
        trajectories.legend(fontsize=8, title=meaning, loc="best")
    trajectories.set_xlabel(axis_labels[0])
    trajectories.set_ylabel(axis_labels[1])
    trajectories.set_title(f"Posterior latents ({result.latent_estimate}), coloured by {meaning}")
    time_course.set_xlabel("time from window start (s)")
    time_course.set_ylabel(axis_labels[0])
    time_course.set_title(f"{axis_labels[0]} over time, {len(shown)} of {len(inputs.bin_start_s)} windows")
    figure.tight_layout()
    return figure
