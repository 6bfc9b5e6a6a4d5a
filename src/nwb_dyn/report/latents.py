"""Posterior latent trajectories per window, coloured by discrete state, else by trial condition, else by time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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


@dataclass(frozen=True)
class Colouring:
    """How bins are coloured: (B, T) RGBA-able colour per bin, a legend (label → colour) or a colour bar, a title."""

    colours: np.ndarray  # (B, T, 4)
    legend: dict[str, np.ndarray]
    meaning: str
    colour_bar: tuple[Normalize, str] | None = None


def latent_colouring(inputs: ReportInputs) -> Colouring:
    """Colour by discrete state (every state of the model in the legend, unused ones marked), else by the trials
    table's condition, else by time from the alignment event (or session time) with a colour bar."""
    result = inputs.result
    num_bins = inputs.bin_start_s.shape[1]
    if result.states is not None:
        count = max(result.num_states or 0, int(result.states.max()) + 1)
        palette = state_colours(count)
        used = np.bincount(result.states, minlength=count) > 0
        legend = {f"state {k}" + ("" if used[k] else " (not used)"): palette[k] for k in range(count)}
        states = result.per_window(result.states)  # -1 in the padding after a short window: drawn nowhere
        return Colouring(palette[np.maximum(states, 0)], legend, "discrete state")
    trials = inputs.trials
    if (
        trials is not None
        and trials.condition is not None
        and np.all(result.windows.trial < len(trials.condition))
    ):
        labels, index = np.unique(trials.condition[result.windows.trial], return_inverse=True)
        palette = condition_colours(len(labels))
        per_bin = np.repeat(index[:, None], num_bins, axis=1)
        legend = {str(label): palette[k] for k, label in enumerate(labels)}
        return Colouring(palette[per_bin], legend, f"trial condition ({trials.condition_name})")
    times = inputs.bin_centres()  # NaN in the padding after a short window
    norm = Normalize(vmin=float(np.nanmin(times)), vmax=float(np.nanmax(times)))
    return Colouring(
        colormaps["viridis"](norm(times)),
        {},
        inputs.time_label.removesuffix(" (s)"),
        (norm, inputs.time_label),
    )


def condition_colours(count: int) -> np.ndarray:
    """(C, 4) colours for up to 20 trial conditions (tab20 beyond 10), cycling after."""
    if count <= 10:
        return state_colours(count)
    palette = colormaps["tab20"].colors
    return np.array([(*palette[k % len(palette)], 1.0) for k in range(count)])


def shown_windows(num_windows: int, limit: int = _MAX_WINDOWS) -> np.ndarray:
    """Indices of at most ``limit`` windows, evenly spread over the session."""
    return np.unique(np.linspace(0, num_windows - 1, min(num_windows, limit)).astype(int))


def draw_latent_trajectories(inputs: ReportInputs) -> Figure:
    """Left: trajectories in the latent plane (or its PCA plane); right: the first coordinate against time from the
    alignment event (session time when the windows were not aligned)."""
    result = inputs.result
    plane, _, axis_labels = principal_plane(result.latents)
    per_window = result.per_window(plane)  # (B, T, 2)
    colouring = latent_colouring(inputs)
    times = inputs.bin_centres()
    shown = shown_windows(len(per_window))
    per_window, colours, times = per_window[shown], colouring.colours[shown], times[shown]
    figure, axes = new_figure(1, 2)
    trajectories, time_course = axes[0]
    for window in range(len(per_window)):
        trajectories.plot(*per_window[window].T, color="0.8", linewidth=0.6, zorder=1)
        time_course.plot(times[window], per_window[window, :, 0], color="0.85", linewidth=0.6, zorder=1)
    flat_colours = colours.reshape(-1, colours.shape[-1])
    trajectories.scatter(*per_window.reshape(-1, 2).T, c=flat_colours, s=6, zorder=2)
    time_course.scatter(times.reshape(-1), per_window[..., 0].reshape(-1), c=flat_colours, s=4, zorder=2)
    for label, colour in colouring.legend.items():
        trajectories.scatter([], [], color=colour, s=20, label=label)
    if colouring.legend:
        trajectories.legend(fontsize=8, title=colouring.meaning, title_fontsize=8, loc="best")
    if colouring.colour_bar is not None:
        norm, label = colouring.colour_bar
        mappable = time_course.scatter([], [], c=[], cmap="viridis", norm=norm)
        figure.colorbar(mappable, ax=time_course, label=label)
    if inputs.aligned:
        time_course.axvline(0.0, color="0.3", linestyle="--", linewidth=1)
    for axis in (trajectories, time_course):
        axis.xaxis.set_major_locator(MaxNLocator(6))
        axis.yaxis.set_major_locator(MaxNLocator(6))
    trajectories.set_xlabel(axis_labels[0])
    trajectories.set_ylabel(axis_labels[1])
    trajectories.set_title(
        f"Posterior latents ({result.latent_estimate}), coloured by {colouring.meaning}", fontsize=10
    )
    time_course.set_xlabel(inputs.time_label)
    time_course.set_ylabel(axis_labels[0])
    time_course.set_title(
        f"{axis_labels[0]} over time, {len(shown)} of {len(inputs.bin_start_s)} windows", fontsize=10
    )
    figure.tight_layout()
    return figure
