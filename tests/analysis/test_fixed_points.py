"""Exact fixed-point enumeration against oracles: exhaustive search over every activation pattern (2^N for ReLU,
3^N for clipped ReLU), Zaslavsky's region count, closed forms, and the shared reach teacher's published anchors."""

from __future__ import annotations

import itertools
from math import comb
from pathlib import Path

import numpy as np
import pytest

from nwb_dyn.analysis.fixed_points import discrete_time_fixed_points, piecewise_linear_fixed_points
from nwb_dyn.errors import ConfigError

DECAY = 0.5


def random_network(seed: int, units: int, rank: int, activation: str, gain: float):
    """(n, m, bias, input_current) of a random low-rank network in the model convention."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((units, rank))
    n = gain * rng.standard_normal((rank, units)) / np.sqrt(units)
    bias = rng.standard_normal(units) * (0.5 if activation == "relu" else 1.0)
    return n, m, bias, 0.2 * rng.standard_normal(units)


def unit_pieces(bias: np.ndarray, activation: str) -> list[list[tuple[float, float, float, float]]]:
    """Per unit, the affine pieces (slope, offset, lowest current, highest current) of φ(x; h) written out by hand."""
    pieces = []
    for h in bias:
        if activation == "relu":  # max(x − h, 0)
            pieces.append([(0.0, 0.0, -np.inf, h), (1.0, -h, h, np.inf)])
        elif h > 0:  # max(x + h, 0) − max(x, 0): 0, then x + h, then h
            pieces.append([(0.0, 0.0, -np.inf, -h), (1.0, h, -h, 0.0), (0.0, h, 0.0, np.inf)])
        else:  # 0, then −x, then h
            pieces.append([(0.0, 0.0, -np.inf, 0.0), (-1.0, 0.0, 0.0, -h), (0.0, h, -h, np.inf)])
    return pieces


def exhaustive_fixed_points(decay, n, m, bias, current, activation):
    """Oracle: solve the affine system of every combination of per-unit pieces; keep solutions inside their piece.
    Returns z (P, R) and the map's Jacobian eigenvalues (P, R)."""
    units, rank = m.shape
    table = np.array(unit_pieces(bias, activation))  # (N, pieces, 4)
    choices = np.array(list(itertools.product(range(table.shape[1]), repeat=units)))  # (C, N)
    slope, offset, low, high = np.moveaxis(table[np.arange(units), choices], -1, 0)  # each (C, N)
    matrix = (1 - decay) * np.eye(rank) - np.einsum("rn,cn,ns->crs", n, slope, m)
    rhs = np.einsum("rn,cn->cr", n, slope * current + offset)
    solvable = np.abs(np.linalg.det(matrix)) > 1e-12
    z = np.linalg.solve(matrix[solvable], rhs[solvable][..., None])[..., 0]
    x = z @ m.T + current
    inside = np.all((x >= low[solvable] - 1e-9) & (x <= high[solvable] + 1e-9), axis=1)
    jacobian = decay * np.eye(rank) + np.einsum("rn,cn,ns->crs", n, slope[solvable][inside], m)
    return z[inside], np.linalg.eigvals(jacobian)


def assert_same_points(found: np.ndarray, expected: np.ndarray) -> None:
    """Same set of points to 1e-8; ``expected`` may list one point several times (from adjacent pieces)."""
    distinct = [
        point
        for index, point in enumerate(expected)
        if np.all(np.abs(expected[:index] - point).sum(1) > 1e-8)
    ]
    assert found.shape == (len(distinct), expected.shape[1])
    for point in distinct:
        assert np.min(np.linalg.norm(found - point, axis=1)) < 1e-8


# (activation, N, R, gain, seed); the first of each block has several fixed points, so the comparison has teeth
CASES = [
    ("relu", 14, 2, 0.5, 2),
    ("relu", 14, 2, 1.0, 1),
    ("relu", 12, 3, 1.0, 2),
    ("relu", 12, 3, 0.5, 6),
    ("relu", 13, 1, 0.5, 4),
    ("relu", 6, 3, 1.0, 0),
    ("relu", 10, 4, 2.0, 4),  # R = 4 takes the LAPACK path
    ("clipped_relu", 8, 2, 2.0, 4),
    ("clipped_relu", 8, 2, 1.0, 1),
    ("clipped_relu", 7, 3, 1.0, 9),
    ("clipped_relu", 8, 1, 1.0, 6),
    ("clipped_relu", 5, 3, 2.0, 3),
    ("clipped_relu", 6, 4, 2.0, 3),
]


@pytest.mark.parametrize(("activation", "units", "rank", "gain", "seed"), CASES)
def test_matches_exhaustive_search_and_counts_every_region(activation, units, rank, gain, seed):
    n, m, bias, current = random_network(seed, units, rank, activation, gain)
    expected, expected_eigenvalues = exhaustive_fixed_points(DECAY, n, m, bias, current, activation)
    result = discrete_time_fixed_points(DECAY, n, m, bias, current, activation)
    assert_same_points(result.z, expected)
    for point, eigenvalues in zip(expected, expected_eigenvalues):
        index = np.argmin(np.linalg.norm(result.z - point, axis=1))
        np.testing.assert_allclose(
            result.discrete_eigenvalues[index], np.sort_complex(eigenvalues), atol=1e-9
        )
    kinks = 1 if activation == "relu" else 2
    assert result.regions_visited == sum(kinks**r * comb(units, r) for r in range(rank + 1))
    assert result.singular_regions == 0


@pytest.mark.parametrize(("rank", "seed"), [(1, 5), (2, 5), (3, 2)])
def test_clipped_relu_without_input_matches_exhaustive_search(rank, seed):
    # with zero input every unit's kink at x = 0 passes through z = 0: far from general position
    n, m, bias, _ = random_network(seed, 7, rank, "clipped_relu", 2.0)
    current = np.zeros(7)
    expected, _ = exhaustive_fixed_points(DECAY, n, m, bias, current, "clipped_relu")
    result = discrete_time_fixed_points(DECAY, n, m, bias, None, "clipped_relu")
    assert len(expected) >= 3
    assert_same_points(result.z, expected)


@pytest.mark.parametrize(
    ("activation", "rank", "seed"), [("relu", 2, 0), ("relu", 3, 4), ("clipped_relu", 2, 5)]
)
def test_coincident_hyperplanes_match_exhaustive_search(activation, rank, seed):
    n, m, bias, current = random_network(seed, 10 if activation == "relu" else 7, rank, activation, 2.0)
    m[3], bias[3], current[3] = m[1], bias[1], current[1]  # unit 3 switches exactly where unit 1 does
    m[5], bias[5], current[5] = 2 * m[4], 2 * bias[4], 2 * current[4]  # and unit 5 where unit 4 does
    expected, _ = exhaustive_fixed_points(DECAY, n, m, bias, current, activation)
    result = discrete_time_fixed_points(DECAY, n, m, bias, current, activation)
    assert len(expected) >= 3
    assert_same_points(result.z, expected)


def test_cases_include_networks_with_several_fixed_points():
    counts = []
    for activation, units, rank, gain, seed in CASES:
        network = random_network(seed, units, rank, activation, gain)
        counts.append(len(exhaustive_fixed_points(DECAY, *network, activation)[0]))
    assert max(counts) >= 4 and sum(count >= 3 for count in counts) >= 4


def test_reach_teacher_has_17_fixed_points_8_stable_in_1831_regions(shared_dir: Path):
    teacher = np.load(shared_dir / "data" / "teacher_rnns" / "reach_rnn_N60_rank2.npz")
    m, b = teacher["m"], teacher["b_rec"]
    n = teacher["n"] / m.shape[0]
    result = piecewise_linear_fixed_points(m, n, b)
    assert result.z.shape == (17, 2)
    assert int(result.stable.sum()) == 8
    assert result.regions_visited == 1 + 60 + comb(60, 2) == 1831
    # each point solves z = n relu(m z + b); its eigenvalues are those of −I + n D m with D the active units there
    np.testing.assert_allclose(np.maximum(result.z @ m.T + b, 0.0) @ n.T, result.z, atol=1e-10)
    active = (result.z @ m.T + b > 0).astype(float)
    continuous = np.linalg.eigvals(-np.eye(2) + np.einsum("rn,pn,ns->prs", n, active, m))
    np.testing.assert_allclose(result.eigenvalues, np.sort_complex(continuous), atol=1e-10)
    np.testing.assert_allclose(
        result.discrete_eigenvalues, 1.0 + 0.1 * result.continuous_eigenvalues, atol=1e-12
    )


def test_teacher_convention_clipped_relu_adds_the_bias_to_the_first_kink():
    n, m, bias, current = random_network(4, 8, 2, "clipped_relu", 2.0)
    result = piecewise_linear_fixed_points(m, n, bias, activation="clipped_relu", input_current=current)
    x = result.z @ m.T + current
    np.testing.assert_allclose((np.maximum(x + bias, 0) - np.maximum(x, 0)) @ n.T, result.z, atol=1e-10)
    model = discrete_time_fixed_points(0.9, 0.1 * n, m, bias, current, "clipped_relu")
    np.testing.assert_allclose(model.z, result.z)
    assert result.z.shape[0] >= 3 and result.reading == "continuous" and model.reading == "discrete"


def test_units_with_constant_current_or_no_output_match_the_exhaustive_search():
    n, m, bias, current = random_network(2, 10, 2, "relu", 0.5)
    m[3] = 0.0  # its current is the constant input: it only adds a constant drive
    n[:, 5] = 0.0  # it drives nothing
    expected, _ = exhaustive_fixed_points(DECAY, n, m, bias, current, "relu")
    result = discrete_time_fixed_points(DECAY, n, m, bias, current)
    assert_same_points(result.z, expected)
    assert result.regions_visited == sum(comb(8, r) for r in range(3))


def test_line_attractor_region_is_reported_singular():
    # z' = 0.5 z + 0.5 relu(z − 1): every z ≥ 1 is fixed (a continuous attractor); z = 0 is the isolated one
    result = discrete_time_fixed_points(0.5, np.array([[0.5]]), np.array([[1.0]]), np.array([1.0]))
    assert result.singular_regions == 1 and result.regions_visited == 2
    np.testing.assert_allclose(result.z, [[0.0]])
    np.testing.assert_allclose(result.discrete_eigenvalues, [[0.5]])
    assert result.stable.tolist() == [True] and result.continuous_eigenvalues[0, 0] == pytest.approx(-1.0)


def test_slopes_report_the_activation_derivative_at_each_fixed_point():
    n, m, bias, current = random_network(9, 7, 3, "clipped_relu", 1.0)
    result = discrete_time_fixed_points(DECAY, n, m, bias, current, "clipped_relu")
    x = result.z @ m.T + current
    expected = (x > -bias).astype(int) - (x > 0).astype(int)
    np.testing.assert_array_equal(result.slopes, expected)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n": np.ones((3, 4))}, "n has shape"),
        ({"bias": np.ones(5)}, "bias has shape"),
        ({"input_current": np.ones(3)}, "input_current has shape"),
        ({"decay": 1.0}, "decay"),
        ({"activation": "tanh"}, "activation"),
    ],
)
def test_invalid_parameters_raise_config_error_naming_the_field(arguments, message):
    parameters = {"decay": 0.9, "n": np.ones((2, 4)), "m": np.ones((4, 2)), "bias": np.zeros(4), **arguments}
    with pytest.raises(ConfigError, match=message):
        discrete_time_fixed_points(**parameters)


def vertex_neighbourhood_fixed_points(decay, n, m, bias, current, activation):
    """Second oracle for networks too big for 2^N (algorithms.md §2.3 done naively): the patterns of the 2^R regions
    around every vertex, deduplicated, each solved and kept if consistent. Returns z (P, R) and the region count."""
    units, rank = m.shape
    if activation == "relu":
        normals, thresholds, signs = m, bias - current, np.ones(units)
    else:
        normals, thresholds = np.concatenate([m, m]), np.concatenate([-bias - current, -current])
        signs = np.concatenate([np.ones(units), -np.ones(units)])
    outputs = n[:, np.arange(len(signs)) % units] * signs
    subsets = np.array(
        [s for s in itertools.combinations(range(len(signs)), rank) if len({i % units for i in s}) == rank]
    )
    vertices = np.linalg.solve(normals[subsets], thresholds[subsets][..., None])[..., 0]
    patterns = []
    for corner in itertools.product([False, True], repeat=rank):
        pattern = vertices @ normals.T > thresholds
        pattern[np.arange(len(subsets))[:, None], subsets] = corner
        patterns.append(pattern)
    patterns = np.unique(np.concatenate(patterns), axis=0).astype(float)
    matrix = (1 - decay) * np.eye(rank) - np.einsum("rh,ph,hs->prs", outputs, patterns, normals)
    z = np.linalg.solve(matrix, np.einsum("rh,ph->pr", -outputs, patterns * thresholds)[..., None])[..., 0]
    consistent = np.all((z @ normals.T > thresholds) == patterns.astype(bool), axis=1)
    return z[consistent], len(patterns)


@pytest.mark.parametrize(("activation", "units", "rank"), [("relu", 40, 3), ("clipped_relu", 20, 3)])
def test_matches_the_vertex_neighbourhood_enumeration_on_larger_networks(activation, units, rank):
    n, m, bias, current = random_network(2, units, rank, activation, 2.0)
    expected, regions = vertex_neighbourhood_fixed_points(DECAY, n, m, bias, current, activation)
    assert len(expected) >= 3
    result = discrete_time_fixed_points(DECAY, n, m, bias, current, activation)
    assert_same_points(result.z, expected)
    assert result.regions_visited == regions
