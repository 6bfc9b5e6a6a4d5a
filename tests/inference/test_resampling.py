"""Systematic resampling: counts within ⌊K·w⌋..⌈K·w⌉, no gradient through indices, no zero-weight ancestors."""

from __future__ import annotations

import math

import pytest
import torch

from nwb_dyn.inference.resampling import systematic_resample


def test_each_index_is_drawn_floor_or_ceil_of_k_times_its_weight() -> None:
    generator = torch.Generator().manual_seed(0)
    num_particles, num_sequences = 37, 200
    log_weights = torch.randn(num_particles, num_sequences, generator=generator, dtype=torch.float64) * 2.0
    weights = torch.softmax(log_weights, dim=0)
    ancestors = systematic_resample(log_weights, generator)
    assert ancestors.shape == (num_particles, num_sequences)
    counts = torch.zeros_like(weights).scatter_add_(0, ancestors, torch.ones_like(weights))
    expected = num_particles * weights
    assert torch.all(counts >= torch.floor(expected - 1e-9))
    assert torch.all(counts <= torch.ceil(expected + 1e-9))


def test_zero_weight_particles_are_never_ancestors_and_offsets_are_used() -> None:
    log_weights = torch.tensor([[-math.inf, 0.0, -math.inf, 0.0]]).T  # (K=4, B=1)
    for offset in (0.0, 0.3, 0.999):
        ancestors = systematic_resample(log_weights, offsets=torch.tensor([offset]))
        assert sorted(ancestors[:, 0].tolist()) == [1, 1, 3, 3]


def test_indices_carry_no_gradient_but_gathered_particles_do() -> None:
    log_weights = torch.randn(8, 3, requires_grad=True)
    particles = torch.randn(8, 3, 2, requires_grad=True)
    ancestors = systematic_resample(log_weights, torch.Generator().manual_seed(1))
    assert not ancestors.requires_grad
    gathered = torch.gather(particles, 0, ancestors.unsqueeze(-1).expand(-1, -1, 2))
    gathered.sum().backward()
    assert log_weights.grad is None
    assert particles.grad is not None and particles.grad.abs().sum() > 0


def test_nan_weights_raise() -> None:
    with pytest.raises(FloatingPointError, match="NaN"):
        systematic_resample(torch.tensor([[float("nan")], [0.0]]))
