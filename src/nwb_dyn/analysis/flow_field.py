"""Flow fields of a latent map on a 2-D grid, for the report's phase portraits.

For R = 2 the grid lies in the latent plane itself. For R > 2 it lies in the plane of the first two principal
components of given latents (the part of latent space the data visit); the velocity there is the map's step
F(z) − z projected onto that plane. NumPy only; the map receives and returns (P, R) arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nwb_dyn.errors import ConfigError


@dataclass(frozen=True)
class FlowField:
    """A grid of velocities. axis_x: (n_x,), axis_y: (n_y,) grid coordinates in the plotted plane; points: (n_y, n_x,
    R) the latents evaluated, ``origin + x basis[0] + y basis[1]``; velocity: (n_y, n_x, 2) the step F(z) − z in
    plotted coordinates; origin (R,) and basis (2, R, orthonormal rows) place the plane in latent space (the
    identity for R = 2)."""

    axis_x: np.ndarray
    axis_y: np.ndarray
    points: np.ndarray
    velocity: np.ndarray
    origin: np.ndarray
    basis: np.ndarray

    @property
    def speed(self) -> np.ndarray:
        """(n_y, n_x) length of the projected step."""
        return np.linalg.norm(self.velocity, axis=-1)


def flow_field(
    latent_map: Callable[[np.ndarray], np.ndarray],
    latents: np.ndarray | None = None,
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
    resolution: int = 25,
    margin: float = 0.1,
) -> FlowField:
    """Evaluate the step F(z) − z of ``latent_map`` (P, R) -> (P, R) on a ``resolution`` × ``resolution`` grid.

    latents: (B, T, R) or (P, R) latents that place the plane (PCA, needed when R > 2) and, without ``bounds``,
    its extent (their range plus ``margin`` of it on each side). bounds: ((x_min, x_max), (y_min, y_max)) in plotted
    coordinates; with R = 2 and no latents they are required. Returns a :class:`FlowField`.
    """
    if resolution < 2:
        raise ConfigError(f"resolution={resolution!r}; a flow field needs at least 2 grid points per axis")
    if latents is None:
        if bounds is None:
            raise ConfigError(
                "flow_field needs latents (to place and size the plane) or bounds (for a 2-D map)"
            )
        origin, basis, projected = np.zeros(2), np.eye(2), None
    else:
        rows = np.asarray(latents, dtype=float)
        rows = rows.reshape(-1, rows.shape[-1])
        if rows.shape[1] < 2 or rows.shape[0] < 2 or not np.all(np.isfinite(rows)):
            raise ConfigError(
                f"latents of shape {np.shape(latents)}: need ≥ 2 finite points with R ≥ 2 coordinates"
            )
        origin, basis = _plane(rows)
        projected = (rows - origin) @ basis.T
    if bounds is None:
        low, high = projected.min(axis=0), projected.max(axis=0)
        pad = margin * np.maximum(high - low, 1e-12)
        bounds = ((low[0] - pad[0], high[0] + pad[0]), (low[1] - pad[1], high[1] + pad[1]))
    axis_x = np.linspace(*bounds[0], resolution)
    axis_y = np.linspace(*bounds[1], resolution)
    grid = np.stack(np.meshgrid(axis_x, axis_y), axis=-1)  # (n_y, n_x, 2)
    points = origin + grid @ basis
    flat = points.reshape(-1, points.shape[-1])
    stepped = np.asarray(latent_map(flat), dtype=float)
    if stepped.shape != flat.shape:
        raise ConfigError(
            f"the latent map returned shape {stepped.shape} for input {flat.shape}; it must map (P, R) to (P, R)"
        )
    velocity = ((stepped - flat) @ basis.T).reshape(grid.shape)
    return FlowField(axis_x, axis_y, points, velocity, origin, basis)


def _plane(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (R,) and the plane's orthonormal basis (2, R): the identity for R = 2, else the first two PCs."""
    if rows.shape[1] == 2:
        return np.zeros(2), np.eye(2)
    mean = rows.mean(axis=0)
    components = np.linalg.svd(rows - mean, full_matrices=False)[2][:2]
    # fix each component's sign (largest coordinate positive) so the same latents always give the same picture
    signs = np.sign(components[np.arange(2), np.argmax(np.abs(components), axis=1)])
    return mean, components * signs[:, None]
