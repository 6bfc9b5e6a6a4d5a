"""The fused low-rank transition against plain autograd, and the model's conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nwb_dyn.models import lowrank_step
from nwb_dyn.models.activations import ACTIVATIONS, apply_activation
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.models.lowrank_step import fused_transition_mean


def _reference(latents, current, decay, m, n, h, activation):
    x = latents @ m.T + (0 if current is None else current)
    return decay * latents + apply_activation(activation, x, h) @ n.T


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("with_input", [False, True])
@pytest.mark.parametrize("chunk_floats", [7 * 5, 1 << 16])  # several row chunks, or one
def test_fused_transition_matches_autograd_in_value_and_gradient(
    activation: str, with_input: bool, chunk_floats: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lowrank_step, "_CHUNK_FLOATS", chunk_floats)
    generator = torch.Generator().manual_seed(0)
    make = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64, requires_grad=True)
    latents, m, n, h = make(4, 3, 2), make(7, 2), make(2, 7), make(7)
    decay = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    current = make(1, 3, 7) if with_input else None
    inputs = [t for t in (latents, current, decay, m, n, h) if t is not None]
    fused = fused_transition_mean(latents, current, decay, m, n, h, activation)
    plain = _reference(latents, current, decay, m, n, h, activation)
    torch.testing.assert_close(fused, plain)
    weights = torch.randn(fused.shape, generator=generator, dtype=torch.float64)
    fused_grads = torch.autograd.grad((fused * weights).sum(), inputs)
    plain_grads = torch.autograd.grad((plain * weights).sum(), inputs)
    for got, want in zip(fused_grads, plain_grads):
        torch.testing.assert_close(got, want)


def test_hyperparameters_rebuild_the_same_model() -> None:
    model = LowRankRNN(rank=3, num_units=16, num_channels=5, likelihood="gaussian", noise_covariance="full",
                       num_inputs=2, readout="one_to_one", activation="tanh")
    rebuilt = LowRankRNN(**model.hyperparameters)
    rebuilt.load_state_dict(model.state_dict())
    latents = torch.randn(4, 2, 3)
    inputs = torch.randn(2, 2)
    torch.testing.assert_close(
        rebuilt.transition_mean(latents, model.input_current(inputs)),
        model.transition_mean(latents, model.input_current(inputs)),
    )
    assert {"m", "n", "h", "decay_logit"} <= {name for name, _ in model.named_parameters()}
    assert model.m.shape == (16, 3) and model.n.shape == (3, 16) and model.h.shape == (16,)


def test_full_noise_covariance_is_cholesky_parameterised() -> None:
    model = LowRankRNN(rank=2, num_units=8, num_channels=3, noise_covariance="full", transition_noise_std_init=0.2)
    torch.testing.assert_close(model.transition_noise.covariance(), 0.04 * torch.eye(2))
    with torch.no_grad():
        model.transition_noise.raw.copy_(torch.tensor([[0.0, 5.0], [0.5, np.log(4.0)]]))
    # L = [[1, 0], [0.5, 2]] (upper raw entry ignored), Σ = L Lᵀ
    torch.testing.assert_close(model.transition_noise.covariance(), torch.tensor([[1.0, 0.5], [0.5, 4.25]]))


def test_fixed_points_of_a_model_are_fixed() -> None:
    torch.manual_seed(3)
    model = LowRankRNN(rank=2, num_units=12, num_channels=3, activation="relu")
    with torch.no_grad():
        model.n.mul_(8.0)
    points = model.fixed_points()
    assert len(points.z) >= 1
    z = torch.as_tensor(points.z, dtype=torch.float32).unsqueeze(1)  # (P, 1, R)
    torch.testing.assert_close(model.transition_mean(z)[:, 0], z[:, 0], atol=1e-4, rtol=1e-4)
