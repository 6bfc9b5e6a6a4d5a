"""The backward smoother's squared distances stay exact far from the origin (float64, no ‖a‖²+‖b‖²−2ab expansion)."""

from __future__ import annotations

import pytest
import torch

from nwb_dyn.inference.backward_smoother import backward_smoothing_weights, whitened_square_distances
from nwb_dyn.models.lowrank import LowRankRNN


def _cloud(offset: float, particles: int = 64, trials: int = 3, rank: int = 3, seed: int = 0):
    """float32 targets (K, B, R) and sources (K, B, R) near ``offset`` in every coordinate, O(1) apart."""
    generator = torch.Generator().manual_seed(seed)
    centre = offset * torch.ones(1, trials, rank)
    targets = centre + torch.randn(particles, trials, rank, generator=generator)
    sources = centre + torch.randn(particles, trials, rank, generator=generator)
    return targets.float(), sources.float()


@pytest.mark.parametrize("offset", [1e3, 1e4])
def test_square_distances_match_float64_far_from_the_origin(offset: float) -> None:
    factor = torch.tensor([[0.1, 0.0, 0.0], [0.02, 0.08, 0.0], [-0.01, 0.03, 0.12]])  # whitened coords ~1e4–1e5
    targets, sources = _cloud(offset)
    found = whitened_square_distances(factor, targets, sources)
    exact_factor = factor.double()
    difference = targets.double().transpose(0, 1)[:, :, None] - sources.double().transpose(0, 1)[:, None]
    whitened = torch.linalg.solve_triangular(exact_factor, difference.reshape(-1, 3).T, upper=False).T
    expected = whitened.square().sum(-1).reshape(found.shape)
    assert found.dtype == torch.float64
    assert (found - expected).abs().max() < 1e-6 * expected.max()
    # the float32 expansion this replaces is off by O(1) or more here (the issue measured 0.66 at 1e3, 84 at 1e4)
    naive = torch.cdist(
        torch.linalg.solve_triangular(factor, targets.reshape(-1, 3).T, upper=False).T.reshape(targets.shape)
        .transpose(0, 1),
        torch.linalg.solve_triangular(factor, sources.reshape(-1, 3).T, upper=False).T.reshape(sources.shape)
        .transpose(0, 1),
    ).square()
    assert (naive.double() - expected).abs().max() > 0.1


def test_smoothing_weights_are_translation_invariant_for_a_linear_map() -> None:
    """With n = 0 the map is z ↦ a z; shifting a cloud by c and its successor by a c leaves every distance and so
    every weight unchanged, however large c is."""
    torch.manual_seed(0)
    model = LowRankRNN(rank=2, num_units=8, num_channels=4, activation="relu", transition_noise_std_init=0.1)
    with torch.no_grad():
        model.n.zero_()
    decay = float(model.decay.detach())
    generator = torch.Generator().manual_seed(1)
    steps, particles, trials = 4, 64, 2
    near = [torch.randn(particles, trials, 2, generator=generator, dtype=torch.float64)]
    for _ in range(steps - 1):
        near.append(decay * near[-1] + 0.1 * torch.randn(particles, trials, 2, generator=generator, dtype=torch.float64))
    log_weights = torch.randn(particles, trials, steps, generator=generator)
    reference = backward_smoothing_weights(model, torch.stack(near, dim=2).float(), log_weights)
    shift = torch.tensor([3e3, -2e3], dtype=torch.float64)
    # float32 rounding of the far cloud moves points by ~1e-4, far below the weights' tolerance; the old float32
    # expansion missed by 0.09 here
    far = torch.stack([cloud + decay**t * shift for t, cloud in enumerate(near)], dim=2).float()
    shifted = backward_smoothing_weights(model, far, log_weights)
    assert shifted.dtype == torch.float32
    torch.testing.assert_close(shifted, reference, rtol=0, atol=0.02)
