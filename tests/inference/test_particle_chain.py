"""The chain's hand-written backward pass against plain autograd through the same sweep, step by step."""

from __future__ import annotations

import math

import pytest
import torch

from nwb_dyn.inference.resampling import systematic_resample
from nwb_dyn.inference.smc import _draw_randomness, make_proposal, run_smc
from nwb_dyn.models import lowrank_step
from nwb_dyn.models.lowrank import LowRankRNN

PARTICLES, BATCH, STEPS = 6, 3, 7


def _reference_log_marginal(model, observations, mask, proposal, inputs, encoder_output, seed):
    """The sweep with autograd through every step: resample, gather, transition, the proposal's own step."""
    batch, steps, _ = observations.shape
    generator = torch.Generator().manual_seed(seed)
    noise, offsets = _draw_randomness(steps, PARTICLES, batch, model.rank, observations.dtype, observations.device,
                                      generator)
    current = model.input_current(inputs)
    sampler = make_proposal(proposal, model, observations, mask, current, noise, encoder_output)
    particles, log_weights = sampler.step(0, sampler.first_mean.expand(PARTICLES, batch, model.rank))
    total = torch.logsumexp(log_weights, 0)
    for t in range(1, steps):
        ancestors = systematic_resample(log_weights, offsets=offsets[t])
        particles = torch.gather(particles, 0, ancestors.unsqueeze(-1).expand(-1, -1, model.rank))
        prior = model.transition_mean(particles, None if current is None else current[:, t - 1])
        particles, log_weights = sampler.step(t, prior)
        total = total + torch.logsumexp(log_weights, 0)
    return total - steps * math.log(PARTICLES)


CASES = [  # (likelihood, proposal, noise covariance, activation, inputs, masked)
    ("gaussian", "optimal", "full", "clipped_relu", 0, False),
    ("gaussian", "optimal", "full", "tanh", 2, True),
    ("gaussian", "bootstrap", "full", "relu", 0, False),
    ("poisson", "bootstrap", "diag", "clipped_relu", 2, False),
    ("poisson", "encoder", "diag", "relu", 0, False),
    ("poisson", "encoder", "diag", "clipped_relu", 3, True),
]


@pytest.mark.parametrize("chunk_floats", [None, 16], ids=["one chunk", "row chunks"])
@pytest.mark.parametrize(("likelihood", "proposal", "covariance", "activation", "inputs", "masked"), CASES)
def test_chain_gradients_equal_autograd_through_every_step(likelihood, proposal, covariance, activation, inputs,
                                                           masked, chunk_floats, monkeypatch):
    if chunk_floats is not None:  # the path of wide networks: (K·B, N) currents processed in row chunks
        monkeypatch.setattr(lowrank_step, "_CHUNK_FLOATS", chunk_floats)
    torch.manual_seed(0)
    model = LowRankRNN(rank=2, num_units=9, num_channels=5, likelihood=likelihood, activation=activation,
                       noise_covariance=covariance, num_inputs=inputs, initial_noise_std_init=0.5).double()
    with torch.no_grad():
        model.h.uniform_(-1.0, 1.0)
    if likelihood == "gaussian":
        observations = torch.randn(BATCH, STEPS, 5, dtype=torch.float64)
    else:
        observations = torch.poisson(torch.full((BATCH, STEPS, 5), 1.5, dtype=torch.float64))
    mask = (torch.rand(BATCH, STEPS, 5) > 0.3).double() if masked else torch.ones_like(observations)
    external = torch.randn(BATCH, STEPS, inputs, dtype=torch.float64) if inputs else None
    encoder_mean = torch.randn(BATCH, STEPS, 2, dtype=torch.float64, requires_grad=True)
    encoder_log_variance = torch.randn(BATCH, STEPS, 2, dtype=torch.float64, requires_grad=True)
    encoder_output = (encoder_mean, encoder_log_variance) if proposal == "encoder" else None
    leaves = [*model.parameters(), encoder_mean, encoder_log_variance]
    leaves = [leaf for leaf in leaves if leaf.requires_grad]

    def gradients(log_marginal):
        grads = torch.autograd.grad(log_marginal.sum(), leaves, allow_unused=True)
        return [torch.zeros_like(leaf) if grad is None else grad for leaf, grad in zip(leaves, grads)]

    chain = run_smc(model, observations, mask, PARTICLES, proposal=proposal, inputs=external,
                    encoder_output=encoder_output, generator=torch.Generator().manual_seed(3)).log_marginal
    reference = _reference_log_marginal(model, observations, mask, proposal, external, encoder_output, 3)
    torch.testing.assert_close(chain, reference, rtol=1e-12, atol=1e-10)
    fast_gradients = gradients(chain)
    for index, (fast, plain) in enumerate(zip(fast_gradients, gradients(reference))):
        torch.testing.assert_close(fast, plain, rtol=1e-9, atol=1e-10, msg=lambda text, i=index: f"leaf {i}: {text}")
    assert all(float(grad.abs().sum()) > 0 for grad in fast_gradients[:4])  # n, m, h and the decay carry signal


def test_chain_without_gradients_returns_the_loops_own_weights():
    torch.manual_seed(1)
    model = LowRankRNN(rank=2, num_units=8, num_channels=4, likelihood="gaussian", noise_covariance="full")
    observations = torch.randn(2, 5, 4)
    with torch.no_grad():
        fast = run_smc(model, observations, torch.ones_like(observations), 4, proposal="optimal",
                       generator=torch.Generator().manual_seed(0), keep_clouds=True)
    graded = run_smc(model, observations, torch.ones_like(observations), 4, proposal="optimal",
                     generator=torch.Generator().manual_seed(0), keep_clouds=True)
    torch.testing.assert_close(fast.log_marginal, graded.log_marginal.detach())
    torch.testing.assert_close(fast.particles, graded.particles.detach())
    assert not fast.log_marginal.requires_grad and graded.log_marginal.requires_grad
