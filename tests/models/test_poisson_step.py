"""The fused Poisson log-likelihood equals the textbook formula in value and gradient, masks included."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from nwb_dyn.models.poisson_step import poisson_log_likelihood


def _reference(observations: torch.Tensor, predictor: torch.Tensor, mask: torch.Tensor, link: str) -> torch.Tensor:
    rate = F.softplus(predictor) + 1e-6 if link == "softplus" else predictor.exp() + 1e-10
    log_rate = torch.log(rate) if link == "softplus" else predictor  # the exp link's log-rate is η itself
    log_p = observations * log_rate - rate - torch.lgamma(observations + 1.0)
    return (log_p * mask).sum(-1)


@pytest.mark.parametrize("link", ["softplus", "exp"])
def test_value_and_gradient_match_the_formula(link: str) -> None:
    generator = torch.Generator().manual_seed(0)
    observations = torch.poisson(torch.full((5, 7), 1.5), generator=generator).double()
    mask = (torch.rand(5, 7, generator=generator) > 0.2).double()
    predictor = torch.randn(4, 5, 7, generator=generator, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(4, 5, generator=generator, dtype=torch.float64)

    fused = poisson_log_likelihood(observations, predictor, mask, link)
    (fused_grad,) = torch.autograd.grad((fused * weights).sum(), predictor)
    reference = _reference(observations, predictor, mask, link)
    (reference_grad,) = torch.autograd.grad((reference * weights).sum(), predictor)

    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused_grad, reference_grad, rtol=1e-9, atol=1e-12)
    assert torch.all(fused_grad[:, mask == 0] == 0)


def test_passes_gradcheck() -> None:
    generator = torch.Generator().manual_seed(1)
    observations = torch.poisson(torch.full((3, 4), 2.0), generator=generator).double()
    mask = torch.ones(3, 4, dtype=torch.float64)
    predictor = torch.randn(2, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda eta: poisson_log_likelihood(observations, eta, mask, "softplus"), predictor)
