"""Phase portrait: the fitted latent map's flow field with its fixed points, stable filled and unstable hollow.

For R = 2 the plane is the latent plane; for R > 2 it is the plane of the latents' first two principal components
(:func:`nwb_dyn.analysis.flow_field.flow_field`). A switching model gets one panel per discrete state.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nwb_dyn.analysis.flow_field import FlowField, flow_field
from nwb_dyn.errors import OutputError
from nwb_dyn.report.canvas import NotApplicable, new_figure, state_colours
from nwb_dyn.report.inputs import ReportInputs

#: At most this many per-state panels are drawn (one row).
_MAX_PANELS = 4
#: Fixed points farther than this many latent spans from the latents' centre are left out of the plotted extent.
_FIXED_POINT_REACH = 5.0

LatentMap = Callable[[np.ndarray], np.ndarray]


def latent_maps(model: object) -> list[LatentMap]:
    """The deterministic latent map(s) z_t → E[z_{t+1}] of a rebuilt model, (P, R) → (P, R), with no input.

    A low-rank RNN has one (``transition_mean``); a switching RNN one per state (``dynamics_mean``).
    """
    import torch

    if hasattr(model, "dynamics_mean"):
        num_states = int(model.recurrent_weight.shape[0])

        def state_map(state: int) -> LatentMap:
            def step(z: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    latents = torch.as_tensor(z, dtype=torch.float32)[None]  # (1, P, R) as (B, T, P)
                    return model.dynamics_mean(latents)[0, :, state].double().numpy()

            return step

        return [state_map(state) for state in range(num_states)]
    if hasattr(model, "transition_mean"):

        def step(z: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                particles = torch.as_tensor(z, dtype=torch.float32)[None]  # (1, P, R) as (K, B, R)
                return model.transition_mean(particles)[0].double().numpy()

        return [step]
    raise NotApplicable(f"the rebuilt {type(model).__name__} exposes no latent map to draw")


def _panel_field(latent_map: LatentMap, inputs: ReportInputs, state: int | None) -> FlowField:
    """The flow on a grid covering the visited latents and the nearby fixed points (of ``state``, when given)."""
    plane = flow_field(latent_map, latents=inputs.result.latents, resolution=2)
    projected = (inputs.result.latents - plane.origin) @ plane.basis.T  # (N, 2)
    points = inputs.result.fixed_points
    if points is not None and points.num_points:
        keep = (
            np.ones(points.num_points, bool)
            if state is None or points.state is None
            else points.state == state
        )
        located = (points.location[keep] - plane.origin) @ plane.basis.T
        centre, span = projected.mean(axis=0), np.ptp(projected, axis=0).max() + 1e-12
        near = np.abs(located - centre).max(axis=1, initial=0.0) <= _FIXED_POINT_REACH * span
        projected = np.vstack([projected, located[near]])
    low, high = projected.min(axis=0), projected.max(axis=0)
    pad = 0.1 * np.maximum(high - low, 1e-12)
    bounds = ((low[0] - pad[0], high[0] + pad[0]), (low[1] - pad[1], high[1] + pad[1]))
    return flow_field(latent_map, latents=inputs.result.latents, bounds=bounds, resolution=25)


def _state_trajectories(inputs: ReportInputs, projected: np.ndarray, state: int | None) -> np.ndarray:
    """(B, T, 2) per-window trajectories in the panel's plane, NaN in bins spent in another state than ``state``
    (so each panel draws only the stretches its state's dynamics produced)."""
    result = inputs.result
    per_window = result.per_window(projected).copy()
    if state is not None and result.states is not None:
        elsewhere = result.per_window(result.states) != state
        # keep the bin after a run too, so a one-bin visit still draws as a segment into where it went
        elsewhere[:, 1:] &= result.per_window(result.states)[:, :-1] != state
        per_window[elsewhere] = np.nan
    return per_window


def _draw_panel(
    axis: object, field: FlowField, inputs: ReportInputs, state: int | None, colour: np.ndarray
) -> None:
    axis.streamplot(
        field.axis_x,
        field.axis_y,
        field.velocity[..., 0],
        field.velocity[..., 1],
        color=field.speed,
        cmap="Greys",
        density=0.9,
        linewidth=0.8,
        arrowsize=0.8,
    )
    projected = (inputs.result.latents - field.origin) @ field.basis.T
    for window in _state_trajectories(inputs, projected, state):
        axis.plot(window[:, 0], window[:, 1], color=colour, linewidth=0.7, alpha=0.6)
    points = inputs.result.fixed_points
    if points is not None and points.num_points:
        keep = (
            np.ones(points.num_points, bool)
            if state is None or points.state is None
            else points.state == state
        )
        location = (points.location[keep] - field.origin) @ field.basis.T
        stable = points.stable[keep]
        axis.scatter(*location[stable].T, s=70, color="black", zorder=4, label="stable fixed point")
        axis.scatter(
            *location[~stable].T,
            s=70,
            facecolor="white",
            edgecolor="black",
            linewidth=1.5,
            zorder=4,
            label="unstable fixed point",
        )
    axis.set_xlim(field.axis_x[0], field.axis_x[-1])
    axis.set_ylim(field.axis_y[0], field.axis_y[-1])
    axis.xaxis.set_major_locator(MaxNLocator(4))
    axis.yaxis.set_major_locator(MaxNLocator(4))
    axis.tick_params(labelsize=8)


def _panel_title(inputs: ReportInputs, state: int | None) -> str:
    result = inputs.result
    if state is None:
        return f"{result.stored_model.family} flow"
    share = float(np.mean(result.states == state)) if result.states is not None else float("nan")
    if not share:
        return f"state {state}: not used"
    return f"state {state}: {100 * share:.0f} % of bins"


def draw_flow_field(inputs: ReportInputs) -> Figure:
    """Per state (one panel each): flow of F(z) − z on a grid around the visited latents, the stretches of
    trajectory spent in that state, and that state's fixed points."""
    result = inputs.result
    if result.latents.shape[1] < 2:
        raise NotApplicable("the latents are 1-D; a flow field needs a plane (rank or latent dim ≥ 2)")
    try:
        model = result.model
    except OutputError as exc:  # e.g. a file from another version whose model no longer rebuilds
        raise NotApplicable(f"the stored model could not be rebuilt ({exc})") from None
    maps = latent_maps(model)
    shown = maps[:_MAX_PANELS]
    figure, axes = new_figure(1, len(shown))
    colours = state_colours(len(maps))
    two_d = result.latents.shape[1] == 2
    plane = "latent plane" if two_d else "plane of the latents' first two PCs"
    for index, latent_map in enumerate(shown):
        state = index if len(maps) > 1 else None
        field = _panel_field(latent_map, inputs, state)
        axis = axes[0, index]
        _draw_panel(
            axis, field, inputs, state, colours[index] if state is not None else np.array([0.2, 0.4, 0.8, 1])
        )
        axis.set_title(_panel_title(inputs, state), fontsize=10)
        axis.set_xlabel("latent 1" if two_d else "PC 1")
        axis.set_ylabel("latent 2" if two_d else "PC 2")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=2, fontsize=8)
    suffix = f" (first {_MAX_PANELS} of {len(maps)} states)" if len(maps) > _MAX_PANELS else ""
    trajectories = "; trajectories: the bins spent in each panel's state" if len(maps) > 1 else ""
    figure.suptitle(f"Flow field F(z) − z in the {plane}{suffix}{trajectories}", fontsize=11)
    figure.tight_layout(rect=(0, 0.06, 1, 0.95))
    return figure
