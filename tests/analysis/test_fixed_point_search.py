"""The budgeted fixed-point stage: exact where the enumeration fits the budget (and then identical to it), numeric
otherwise, against the exhaustive oracle and the exact enumeration; the cost prediction's counts; the time limit;
and what a fit records."""

from __future__ import annotations

import time
from math import comb
from pathlib import Path

import numpy as np
import pytest

import nwb_dyn
from nwb_dyn.analysis.fixed_point_search import search_fixed_points
from nwb_dyn.analysis.fixed_points import EnumerationTimeLimit, discrete_time_fixed_points, enumeration_cost
from nwb_dyn.config import resolve_config
from nwb_dyn.errors import ConfigError
from nwb_dyn.results import read
from tests.analysis.test_fixed_points import (
    CASES,
    DECAY,
    assert_same_points,
    exhaustive_fixed_points,
    random_network,
)
from tests.analysis.test_fixed_points_numeric import tanh_network
from tests.helpers import write_units_session


def _starts(points: np.ndarray, rank: int, seed: int = 0) -> np.ndarray:
    """(4, 100, R) latents spread over the region holding ``points``, shaped like posterior latents."""
    scale = 1.0 + (np.abs(points).max() if points.size else 0.0)
    return scale * np.random.default_rng(seed).standard_normal((4, 100, rank))


@pytest.mark.parametrize(("activation", "units", "rank", "gain", "seed"), [c for c in CASES if c[1] <= 10])
def test_numeric_search_finds_the_oracle_fixed_points_exactly(activation, units, rank, gain, seed):
    n, m, bias, current = random_network(seed, units, rank, activation, gain)
    expected, expected_eigenvalues = exhaustive_fixed_points(DECAY, n, m, bias, current, activation)
    found = search_fixed_points(
        DECAY, n, m, bias, activation, _starts(expected, rank), "numeric", 30.0, input_current=current
    )
    assert found.method == "numeric" and found.candidates_examined == 1000
    assert_same_points(found.z, expected)  # polished in their regions: to 1e-8, not to the search's tolerance
    exact = discrete_time_fixed_points(DECAY, n, m, bias, current, activation)
    np.testing.assert_allclose(found.eigenvalues, exact.discrete_eigenvalues, atol=1e-9)
    np.testing.assert_array_equal(found.slopes, exact.slopes)
    np.testing.assert_array_equal(found.stable, exact.discrete_stable)
    assert len(expected_eigenvalues) == len(found.z)


def test_auto_enumerates_exactly_when_the_prediction_fits_the_budget():
    n, m, bias, current = random_network(2, 40, 3, "relu", 2.0)
    exact = discrete_time_fixed_points(DECAY, n, m, bias, current, "relu")
    found = search_fixed_points(DECAY, n, m, bias, "relu", np.zeros((1, 3)), "auto", 60.0, input_current=current)
    assert found.method == "exact"
    assert found.candidates_examined == exact.regions_visited == sum(comb(40, r) for r in range(4))
    assert 0 < found.estimated_exact_s <= 60.0
    np.testing.assert_array_equal(found.z, exact.z)
    record = found.record()
    assert record["method"] == "exact" and record["budget_s"] == 60.0
    assert record["num_fixed_points"] == len(exact.z)


def test_auto_searches_numerically_when_the_enumeration_cannot_fit():
    """N = 512, rank 5, clipped ReLU: ~10^12 regions. The counts alone decide, then the search finds true points."""
    rng = np.random.default_rng(0)
    units, rank = 512, 5
    m = rng.standard_normal((units, rank))
    n = 0.3 * rng.standard_normal((rank, units)) / np.sqrt(units)
    bias = rng.uniform(0.5, 2.0, units)
    started = time.perf_counter()
    cost = enumeration_cost(0.9, n, m, bias, activation="clipped_relu", budget_s=60.0)
    assert time.perf_counter() - started < 1.0 and cost.sampled_lines == 0 and cost.seconds > 60.0
    assert cost.regions == sum(2**r * comb(units, r) for r in range(rank + 1))
    latents = rng.standard_normal((8, 50, rank))
    found = search_fixed_points(0.9, n, m, bias, "clipped_relu", latents, "auto", 60.0, num_starts=300)
    assert found.method == "numeric" and found.candidates_examined == 300
    assert found.estimated_exact_s == cost.seconds and "predicted" in found.reason
    assert len(found.z) >= 1
    currents = found.z @ m.T
    mapped = 0.9 * found.z + (np.maximum(currents + bias, 0) - np.maximum(currents, 0)) @ n.T
    np.testing.assert_allclose(mapped, found.z, atol=1e-10)
    assert found.slopes.shape == (len(found.z), units)


def test_enumeration_cost_counts_the_walk_exactly():
    for activation, units, rank, gain, seed in [("relu", 30, 3, 2.0, 1), ("clipped_relu", 12, 3, 2.0, 2)]:
        n, m, bias, current = random_network(seed, units, rank, activation, gain)
        cost = enumeration_cost(DECAY, n, m, bias, current, activation)
        result = discrete_time_fixed_points(DECAY, n, m, bias, current, activation)
        assert cost.regions == result.regions_visited
        kinks = 1 if activation == "relu" else 2
        assert cost.lines == sum(kinks**d * comb(units, d) for d in range(rank))
        assert cost.sampled_lines > 0 and cost.seconds > 0


def test_exact_walk_stops_at_its_time_limit():
    n, m, bias, current = random_network(0, 400, 3, "relu", 2.0)
    started = time.perf_counter()
    with pytest.raises(EnumerationTimeLimit, match="time limit of 0.2 s"):
        discrete_time_fixed_points(DECAY, n, m, bias, current, "relu", time_limit_s=0.2)
    assert time.perf_counter() - started < 5.0  # one chunk past the limit at most


def test_smooth_activation_is_searched_numerically():
    m, n, expected, _ = tanh_network(0.5, (2.0, 3.0))
    axis = np.linspace(-4.0, 4.0, 15)
    starts = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(1, -1, 2)
    found = search_fixed_points(0.5, n, m, np.zeros(4), "tanh", starts, "auto", 30.0)
    assert found.method == "numeric" and found.slopes is None and found.estimated_exact_s is None
    assert found.z.shape == expected.shape
    assert all(np.min(np.linalg.norm(found.z - point, axis=1)) < 1e-6 for point in expected)
    with pytest.raises(ConfigError, match="piecewise-linear"):
        search_fixed_points(0.5, n, m, np.zeros(4), "tanh", expected, "exact", 30.0)


def test_config_rejects_exact_without_a_piecewise_linear_low_rank_model():
    with pytest.raises(ConfigError, match="analysis.fixed_points"):
        resolve_config(None, {"model": "srnn", "analysis.fixed_points": "exact"})
    with pytest.raises(ConfigError, match="analysis.fixed_points"):
        resolve_config(None, {"lowrank.activation": "tanh", "analysis.fixed_points": "exact"})
    with pytest.raises(ConfigError, match="analysis.fixed_point_budget_s"):
        resolve_config(None, {"analysis.fixed_point_budget_s": 0.0})
    assert resolve_config(None, {}).analysis.fixed_points == "auto"


def test_fit_records_how_its_fixed_points_were_found(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "session.nwb", num_units=5, num_trials=6)
    options = {"model": "lowrank", "max_epochs": 1, "bin_width": 0.05, "units": 8, "particles": 4}
    numeric = nwb_dyn.fit(str(source), out=tmp_path / "numeric", fixed_points="numeric", **options)
    stored = read(numeric.outputs[0])
    search = stored.stored_model.training_summary["fixed_point_search"]
    assert search["method"] == "numeric" and search["budget_s"] == 60.0 and search["candidates_examined"] > 0
    assert stored.stored_model.metrics["num_fixed_points"] == search["num_fixed_points"]
    off = nwb_dyn.fit(str(source), out=tmp_path / "off", fixed_points="off", **options)
    stored = read(off.outputs[0])
    assert "fixed_point_search" not in stored.stored_model.training_summary
    assert stored.fixed_points is None
