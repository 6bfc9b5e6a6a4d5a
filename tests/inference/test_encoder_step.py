"""The fused encoder-proposal step equals its plain tensor form in value and in every gradient."""

from __future__ import annotations

import pytest
import torch

from nwb_dyn.inference.encoder_step import encoder_proposal_step


def _plain(prior_mean, share, shift, constant, precision):
    particles = share * prior_mean + shift
    deviation = particles - prior_mean
    return particles, constant - 0.5 * (deviation * deviation * precision).sum(-1)


@pytest.mark.parametrize("prior_shape", [(4, 3, 2), (3, 2)])  # per particle, or the shared initial mean
def test_values_and_gradients_match_the_plain_form(prior_shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(0)
    make = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_()
    prior_mean, share, shift, constant = make(*prior_shape), make(3, 2), make(4, 3, 2), make(4, 3)
    precision = (torch.rand(2, generator=generator, dtype=torch.float64) + 0.5).requires_grad_()
    inputs = (prior_mean, share, shift, constant, precision)
    weights = (
        torch.randn(4, 3, 2, generator=generator, dtype=torch.float64),
        torch.randn(4, 3, generator=generator, dtype=torch.float64),
    )

    def objective(outputs):
        return (outputs[0] * weights[0]).sum() + (outputs[1] * weights[1]).sum()

    fused, plain = encoder_proposal_step(*inputs), _plain(*inputs)
    for got, want in zip(fused, plain):
        torch.testing.assert_close(got, want)
    for got, want in zip(torch.autograd.grad(objective(fused), inputs), torch.autograd.grad(objective(plain), inputs)):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want)


def test_log_ratio_alone_passes_gradcheck() -> None:
    generator = torch.Generator().manual_seed(1)
    make = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_()
    inputs = (make(2, 3, 2), make(3, 2), make(2, 3, 2), make(2, 3), make(2))
    assert torch.autograd.gradcheck(lambda *args: encoder_proposal_step(*args)[1], inputs)
