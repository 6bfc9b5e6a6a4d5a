"""Discrete states over time with the trial events on top.

Windows cut around a trial event: one row per window, x = time from that event. Windows along the session clock:
one strip, x = session time, each run of a state a bar.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nwb_dyn.report.canvas import NotApplicable, new_figure, state_colours
from nwb_dyn.report.inputs import ReportInputs

#: Marker shapes for up to this many event columns (later columns reuse them).
_EVENT_MARKERS = ("v", "o", "s", "D", "^", "P")


def _state_count(inputs: ReportInputs) -> int:
    result = inputs.result
    return max(result.num_states or 0, int(result.states.max()) + 1)


def _aligned_raster(axis: object, inputs: ReportInputs, num_states: int) -> None:
    """One row per window (time order); x = time from the window's alignment event; trial events as markers."""
    result = inputs.result
    states = result.per_window(result.states)  # (B, T)
    offset_s = float(np.median(inputs.bin_start_s[:, 0] - inputs.time_zero_s))
    duration_s = states.shape[1] * inputs.bin_width_s
    axis.imshow(
        np.ma.masked_less(states, 0),  # padding after a short window (-1) stays blank
        aspect="auto",
        interpolation="nearest",
        cmap=ListedColormap(state_colours(num_states)),
        vmin=-0.5,
        vmax=num_states - 0.5,
        extent=(offset_s, offset_s + duration_s, len(states) - 0.5, -0.5),
    )
    trials = inputs.trials
    if trials is not None and trials.events and np.all(result.windows.trial < len(trials.start_s)):
        for index, (name, times) in enumerate(trials.events.items()):
            relative = times[result.windows.trial] - inputs.time_zero_s
            inside = np.isfinite(relative) & (relative >= offset_s) & (relative <= offset_s + duration_s)
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
        axis.legend(loc="upper right", fontsize=8, title="trial events", title_fontsize=8, framealpha=0.8)
    axis.set_ylabel("window (time order)")
    axis.yaxis.set_major_locator(MaxNLocator(8, integer=True))


def _session_strip(axis: object, inputs: ReportInputs, num_states: int) -> None:
    """One strip along the session clock: each run of a state is a bar; trial events are thin vertical lines."""
    result = inputs.result
    colours = state_colours(num_states)
    starts = result.timestamps - inputs.bin_width_s / 2  # (N,) left edges of the written bins
    states = result.states
    change = np.r_[True, (states[1:] != states[:-1]) | ~np.isclose(np.diff(starts), inputs.bin_width_s)]
    run_starts = np.flatnonzero(change)
    run_stops = np.r_[run_starts[1:], len(states)]
    for state in range(num_states):
        runs = run_starts[states[run_starts] == state]
        stops = run_stops[states[run_starts] == state]
        bars = [(starts[a], starts[b - 1] + inputs.bin_width_s - starts[a]) for a, b in zip(runs, stops)]
        axis.broken_barh(bars, (0.0, 1.0), facecolors=[colours[state]])
    trials = inputs.trials
    if trials is not None:
        for index, (name, times) in enumerate(trials.events.items()):
            finite = times[np.isfinite(times)]
            axis.vlines(
                finite, 1.02 + 0.06 * index, 1.07 + 0.06 * index, color="black", linewidth=0.6, label=name
            )
        if trials.events:
            axis.legend(loc="upper right", fontsize=8, title="trial events", title_fontsize=8)
    axis.set_ylim(0.0, 1.1 + 0.06 * (len(trials.events) if trials is not None else 0))
    axis.set_yticks([])
    axis.xaxis.set_major_locator(MaxNLocator(8))


def draw_state_raster(inputs: ReportInputs) -> Figure:
    """The most probable state in every bin (colour, legend lists every state), trial events marked."""
    result = inputs.result
    if result.states is None:
        raise NotApplicable(f"the {result.stored_model.family} model has no discrete states")
    num_states = _state_count(inputs)
    figure, axes = new_figure()
    axis = axes[0, 0]
    if inputs.aligned:
        _aligned_raster(axis, inputs, num_states)
        axis.axvline(0.0, color="white", linestyle="--", linewidth=1)
    else:
        _session_strip(axis, inputs, num_states)
    used = np.bincount(result.states, minlength=num_states)
    handles = [axis.plot([], [], color=colour, linewidth=6)[0] for colour in state_colours(num_states)]
    labels = [
        f"state {k} ({100 * used[k] / len(result.states):.0f} %)" if used[k] else f"state {k} (not used)"
        for k in range(num_states)
    ]
    figure.legend(
        handles, labels, loc="center right", fontsize=8, title="state (% of bins)", title_fontsize=8
    )
    axis.set_xlabel(inputs.time_label)
    windows = len(result.windows.start_s)
    axis.set_title(f"Most probable discrete state per bin ({windows} windows, {num_states} states)")
    figure.subplots_adjust(left=0.08, right=0.82)
    return figure
