"""Oracle tests for what the report computes: spike statistics, example units, the latent plane, event markers."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from nwb_dyn.report.latents import principal_plane
from nwb_dyn.report.rates import example_units
from nwb_dyn.report.spike_stats import count_statistics


def test_count_statistics_against_per_unit_loops() -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson([0.5, 2.0, 4.0], size=(5, 30, 3)).astype(float)
    counts[..., 0] = 0.0  # a silent unit: undefined Fano factor and correlations
    stats = count_statistics(counts, bin_width_s=0.01)
    flat = counts.reshape(-1, 3)
    for unit in (1, 2):
        assert stats["rate_hz"][unit] == pytest.approx(flat[:, unit].sum() / (len(flat) * 0.01))
        assert stats["fano"][unit] == pytest.approx(np.var(flat[:, unit]) / np.mean(flat[:, unit]))
    assert stats["rate_hz"][0] == 0.0 and np.isnan(stats["fano"][0])
    pairs = list(combinations(range(3), 2))
    assert len(stats["correlation"]) == len(pairs)
    for value, (a, b) in zip(stats["correlation"], pairs):
        if 0 in (a, b):
            assert np.isnan(value)
        else:
            assert value == pytest.approx(np.corrcoef(flat[:, a], flat[:, b])[0, 1])


def test_example_units_are_the_most_active_first() -> None:
    observed = np.zeros((2, 3, 5))
    observed[..., [4, 1, 3]] = [3.0, 2.0, 1.0]
    assert example_units(observed, count=3).tolist() == [4, 1, 3]


def test_principal_plane_keeps_the_variance_of_planar_latents() -> None:
    rng = np.random.default_rng(1)
    plane_basis = np.linalg.qr(rng.normal(size=(3, 2)))[0].T  # (2, 3) orthonormal rows
    latents = rng.normal(size=(200, 2)) * [3.0, 1.0] @ plane_basis + [1.0, -2.0, 0.5]
    projected, origin, labels = principal_plane(latents)
    np.testing.assert_allclose(origin, latents.mean(axis=0))
    # the latents lie in a plane, so the 2-D projection preserves every pairwise distance
    np.testing.assert_allclose(
        np.linalg.norm(projected[1:] - projected[0], axis=1), np.linalg.norm(latents[1:] - latents[0], axis=1)
    )
    assert projected[:, 0].var() > projected[:, 1].var() and labels[0].startswith("PC 1")
    two_d = rng.normal(size=(10, 2))
    np.testing.assert_array_equal(principal_plane(two_d)[0], two_d)
