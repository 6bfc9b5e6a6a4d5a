"""The fused Poisson log-likelihood equals the textbook formula in value and gradients, masks included."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from nwb_dyn.models.poisson_step import poisson_log_likelihood


def _reference(observations, latents, matrix, offset, mask, link: str) -> torch.Tensor:
    predictor = latents @ matrix + offset
    rate = F.softplus(predictor) + 1e-6 if link == "softplus" else predictor.exp() + 1e-10
    log_rate = torch.log(rate) if link == "softplus" else predictor  # the exp link's log-rate is η itself
    log_p = observations * log_rate - rate - torch.lgamma(observations + 1.0)
    return (log_p * mask).sum(-1)


@pytest.mark.parametrize("link", ["softplus", "exp"])
@pytest.mark.parametrize("offset_shape", [(5, 7), (7,)])  # per sequence, or shared
def test_value_and_gradients_match_the_formula(link: str, offset_shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(0)
    observations = torch.poisson(torch.full((5, 7), 1.5), generator=generator).double()
    mask = (torch.rand(5, 7, generator=generator) > 0.2).double()
    make = lambda *shape: (0.5 * torch.randn(*shape, generator=generator, dtype=torch.float64)).requires_grad_()
    latents, matrix, offset = make(4, 5, 3), make(3, 7), make(*offset_shape)
    weights = torch.randn(4, 5, generator=generator, dtype=torch.float64)
    inputs = (latents, matrix, offset)

    fused = poisson_log_likelihood(observations, latents, matrix, offset, mask, link)
    fused_grads = torch.autograd.grad((fused * weights).sum(), inputs)
    reference = _reference(observations, latents, matrix, offset, mask, link)
    reference_grads = torch.autograd.grad((reference * weights).sum(), inputs)

    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=1e-12)
    for got, want in zip(fused_grads, reference_grads):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_masked_channels_add_nothing_and_pass_gradcheck() -> None:
    generator = torch.Generator().manual_seed(1)
    observations = torch.poisson(torch.full((3, 4), 2.0), generator=generator).double()
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0]] * 3, dtype=torch.float64)
    latents = torch.randn(2, 3, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    matrix = torch.randn(2, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    offset = torch.randn(4, generator=generator, dtype=torch.float64, requires_grad=True)
    value = poisson_log_likelihood(observations, latents, matrix, offset, mask, "softplus")
    changed = observations.clone()
    changed[:, 2] += 5.0  # a masked channel's count must not matter
    torch.testing.assert_close(poisson_log_likelihood(changed, latents, matrix, offset, mask, "softplus"), value)
    assert torch.autograd.gradcheck(
        lambda z, w, c: poisson_log_likelihood(observations, z, w, c, mask, "softplus"), (latents, matrix, offset)
    )
