"""Discrete-state raster: the most probable state in every bin of every window, with the trial events on top."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nwb_dyn.report.canvas import NotApplicable, new_figure, state_colours
from nwb_dyn.report.inputs import ReportInputs

#: Marker shapes for up to this many event columns (later columns reuse them).
_EVENT_MARKERS = ("v", "o", "s", "D", "^", "P")


def draw_state_raster(inputs: ReportInputs) -> Figure:
    """One row per window (time order), x = seconds from the window's start, colour = state; trial events marked."""
    result = inputs.result
    if result.states is None:
        raise NotApplicable(f"the {result.stored_model.family} model has no discrete states")
    states = result.per_window(result.states)  # (B, T)
    num_states = result.num_states or int(states.max()) + 1
    window_start_s = result.windows.start_s
    duration_s = states.shape[1] * inputs.bin_width_s
    figure, axes = new_figure()
    axis = axes[0, 0]
    axis.imshow(
        states,
        aspect="auto",
        interpolation="nearest",
        cmap=ListedColormap(state_colours(num_states)),
        vmin=-0.5,
        vmax=num_states - 0.5,
        extent=(0.0, duration_s, len(states) - 0.5, -0.5),
    )
    trials = inputs.trials
    if trials is not None and trials.events and np.all(result.windows.trial < len(trials.start_s)):
        for index, (name, times) in enumerate(trials.events.items()):
            relative = times[result.windows.trial] - window_start_s
            inside = np.isfinite(relative) & (relative >= 0) & (relative <= duration_s)
            axis.scatter(
                relative[inside],
                np.flatnonzero(inside),
                marker=_EVENT_MARKERS[index % len(_EVENT_MARKERS)],
                s=18,
                color="black",
                edgecolor="white",
                linewidth=0.5,
                label=name,
                zorder=3,
            )
        axis.legend(loc="upper right", fontsize=8, title="trial events", framealpha=0.8)
    for state, colour in enumerate(state_colours(num_states)):
        axis.plot([], [], color=colour, linewidth=6, label=f"state {state}")
    handles, labels = axis.get_legend_handles_labels()
    state_handles = [(h, lab) for h, lab in zip(handles, labels) if lab.startswith("state ")]
    figure.legend(*zip(*state_handles), loc="center right", fontsize=8)
    axis.set_xlabel("time from window start (s)")
    axis.set_ylabel("window (time order)")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_title(f"Most probable discrete state per bin ({len(states)} windows, {num_states} states)")
    figure.subplots_adjust(right=0.86)
    return figure
