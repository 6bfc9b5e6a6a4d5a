"""Flow fields against closed forms: a linear map's step (A − I) z on the grid, and, for R = 3 latents lying in a
known plane, the plane recovered by PCA and the step projected onto it."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_dyn.analysis.flow_field import flow_field
from nwb_dyn.errors import ConfigError


def test_rank_two_grid_holds_the_step_of_a_linear_map():
    transition = np.array([[0.9, -0.2], [0.3, 0.8]])
    field = flow_field(lambda z: z @ transition.T, bounds=((-1.0, 1.0), (-2.0, 0.0)), resolution=5)
    np.testing.assert_allclose(field.axis_x, [-1.0, -0.5, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(field.axis_y, [-2.0, -1.5, -1.0, -0.5, 0.0])
    assert field.points.shape == (5, 5, 2) and field.velocity.shape == (5, 5, 2)
    np.testing.assert_allclose(field.points[1, 3], [0.5, -1.5])  # rows follow y, columns follow x
    np.testing.assert_allclose(field.velocity, field.points @ (transition - np.eye(2)).T, atol=1e-12)
    np.testing.assert_allclose(field.speed[1, 3], np.linalg.norm((transition - np.eye(2)) @ [0.5, -1.5]))


def test_rank_three_latents_span_the_plotted_plane():
    rng = np.random.default_rng(0)
    plane = np.linalg.qr(rng.standard_normal((3, 2)))[0].T  # (2, 3) orthonormal rows
    centre = np.array([1.0, -2.0, 0.5])
    latents = centre + (rng.standard_normal((4, 50, 2)) * [3.0, 1.0]) @ plane  # (B, T, R)
    transition = 0.9 * np.eye(3) + 0.05 * rng.standard_normal((3, 3))
    field = flow_field(lambda z: z @ transition.T, latents=latents, resolution=7)
    # the PCs span the latents' plane, and the grid covers their projection plus the margin
    np.testing.assert_allclose(np.abs(np.linalg.det(field.basis @ plane.T)), 1.0, atol=1e-10)
    np.testing.assert_allclose(field.origin, latents.reshape(-1, 3).mean(axis=0))
    projected = (latents.reshape(-1, 3) - field.origin) @ field.basis.T
    span = projected.max(axis=0) - projected.min(axis=0)
    np.testing.assert_allclose([field.axis_x[0], field.axis_y[0]], projected.min(axis=0) - 0.1 * span)
    np.testing.assert_allclose([field.axis_x[-1], field.axis_y[-1]], projected.max(axis=0) + 0.1 * span)
    expected = (field.points @ (transition - np.eye(3)).T) @ field.basis.T
    np.testing.assert_allclose(field.velocity, expected, atol=1e-12)


def test_needs_latents_or_bounds():
    with pytest.raises(ConfigError, match="latents"):
        flow_field(lambda z: z)
    with pytest.raises(ConfigError, match="resolution"):
        flow_field(lambda z: z, bounds=((0, 1), (0, 1)), resolution=1)
