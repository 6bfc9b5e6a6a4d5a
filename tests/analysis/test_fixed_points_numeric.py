"""The numeric fixed-point finder against the exact enumeration (a ReLU network), against a tanh network built to
have known fixed points (roots of y = g tanh(y), found by bisection), and on a map with a slow point but no fixed one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from nwb_dyn.analysis.fixed_points import discrete_time_fixed_points
from nwb_dyn.analysis.numeric_fixed_points import find_fixed_points_numeric
from nwb_dyn.errors import ConfigError

torch.set_num_threads(1)


def test_recovers_the_exact_fixed_points_of_a_relu_network():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((10, 2))
    n = 0.6 * rng.standard_normal((2, 10))
    bias = 0.5 * rng.standard_normal(10)
    exact = discrete_time_fixed_points(0.5, n, m, bias)
    assert exact.z.shape[0] == 4

    def relu_map(z: np.ndarray) -> np.ndarray:
        return 0.5 * z + np.maximum(z @ m.T - bias, 0.0) @ n.T

    axis = np.linspace(-4.5, 4.5, 15)
    starts = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(1, -1, 2)  # shaped like (B, T, R) latents
    found = find_fixed_points_numeric(relu_map, starts)
    assert found.starts == 225
    np.testing.assert_allclose(found.z, exact.z, atol=1e-8)
    np.testing.assert_array_equal(found.stable, exact.stable)
    np.testing.assert_allclose(found.eigenvalues, exact.discrete_eigenvalues, atol=1e-6)


def tanh_network(decay: float, gains: tuple[float, float]):
    """A rank-2, 4-unit tanh RNN z' = a z + n tanh(m z) that is, in the coordinates y = P⁻¹ z, two uncoupled units
    y_i' = a y_i + (1 − a) g_i tanh(y_i); its fixed points are P (±y*_1 or 0, ±y*_2 or 0), 9 of them."""
    mixing = np.array([[1.0, 0.4], [-0.3, 0.8]])
    unmixing = np.linalg.inv(mixing)
    m = np.concatenate([unmixing, unmixing])  # two identical copies of each unit, each with half the output
    n = np.concatenate([mixing * (1 - decay) * np.array(gains)] * 2, axis=1) / 2
    roots = [brentq(lambda y, g=g: g * np.tanh(y) - y, 0.1, 10.0) for g in gains]
    grid = np.array([(s1 * roots[0], s2 * roots[1]) for s1 in (-1, 0, 1) for s2 in (-1, 0, 1)])
    derivative = decay + (1 - decay) * np.array(gains) / np.cosh(grid) ** 2  # (9, 2) eigenvalues per point
    return m, n, grid @ mixing.T, derivative


@pytest.mark.parametrize("jacobian", ["autograd", "finite_difference"])
def test_finds_the_known_fixed_points_of_a_tanh_network(jacobian):
    decay = 0.5
    m, n, expected, expected_eigenvalues = tanh_network(decay, (2.0, 3.0))
    m_t, n_t = torch.tensor(m), torch.tensor(n)

    def tanh_map(z):
        if jacobian == "autograd":
            return decay * z + torch.tanh(z @ m_t.T) @ n_t.T
        return decay * z + np.tanh(z @ m.T) @ n.T

    starts = 3.0 * np.random.default_rng(1).standard_normal((400, 2))
    found = find_fixed_points_numeric(tanh_map, starts, jacobian=jacobian)
    assert found.z.shape == (9, 2)
    for point, eigenvalues in zip(expected, expected_eigenvalues):
        index = np.argmin(np.linalg.norm(found.z - point, axis=1))
        assert np.linalg.norm(found.z[index] - point) < 1e-7
        np.testing.assert_allclose(
            found.eigenvalues[index], np.sort_complex(eigenvalues.astype(complex)), atol=1e-6
        )
    assert int(found.stable.sum()) == 4  # the four corners; the rest are saddles or the unstable origin


def test_reports_a_slow_point_where_the_map_has_no_fixed_point():
    # z' = z + 0.1 (z² + 0.01) never stays put, but moves slowest at z = 0 (a saddle-node "ghost")
    found = find_fixed_points_numeric(lambda z: z + 0.1 * (z**2 + 0.01), np.linspace(-2, 2, 9)[:, None])
    assert found.z.shape == (0, 1)
    assert found.slow_z.shape == (1, 1)
    assert abs(found.slow_z[0, 0]) < 1e-4
    assert found.slow_speed[0] == pytest.approx(0.5 * 0.001**2, rel=1e-3)
    np.testing.assert_allclose(found.slow_eigenvalues, [[1.0]], atol=1e-4)


def test_rejects_bad_starts_and_maps():
    with pytest.raises(ConfigError, match="starts"):
        find_fixed_points_numeric(lambda z: z, np.ones(3))
    with pytest.raises(ConfigError, match="returned shape"):
        find_fixed_points_numeric(lambda z: z[:, :1], np.ones((4, 2)))


def test_thins_many_starts_evenly():
    latents = np.linspace(-1.0, 1.0, 50)[None, :, None] * np.ones((4, 1, 1))  # (B, T, R) = (4, 50, 1)
    found = find_fixed_points_numeric(lambda z: 0.5 * z, latents, max_starts=20)
    assert found.starts == 20
    np.testing.assert_allclose(found.z, [[0.0]], atol=1e-6)
    np.testing.assert_allclose(found.eigenvalues, [[0.5]], atol=1e-6)
