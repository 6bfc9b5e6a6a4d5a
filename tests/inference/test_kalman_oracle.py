"""SMC evidence estimates against the exact Kalman-filter log-likelihood (algorithms.md §8.1).

With identity φ the low-rank RNN is linear-Gaussian: z_{t+1} = (a·I + n·m) z_t − n·h + ε_t. SMC's p̂(y) is unbiased
for the Kalman likelihood, so log p̂ converges to it as K grows, the optimal proposal with far less spread than
bootstrap, and with K = 1, T = 1 the optimal proposal's weight is the exact predictive density.
"""

from __future__ import annotations

import torch

from nwb_dyn.inference.backward_smoother import backward_smoothing_weights
from nwb_dyn.inference.kalman import kalman_filter, kalman_log_likelihood, rts_smoothed_means
from nwb_dyn.inference.smc import run_smc
from nwb_dyn.models.lowrank import LowRankRNN
from tests.helpers import linear_gaussian_lowrank


def _linear_model(readout: str = "affine", seed: int = 0, noise: str = "full") -> LowRankRNN:
    return linear_gaussian_lowrank(readout=readout, seed=seed, noise=noise)


def _dynamics(model: LowRankRNN) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A = a·I + n·m, b = −n·h and Q = Σ_z of the linear model."""
    with torch.no_grad():
        transition = model.decay * torch.eye(model.rank, dtype=torch.float64) + model.n @ model.m
        return transition, -(model.n @ model.h), model.transition_noise.covariance()


def _kalman(model: LowRankRNN, observations: torch.Tensor, means: bool = False):
    with torch.no_grad():
        run = kalman_filter if means else kalman_log_likelihood
        return run(
            observations,
            model.initial_mean,
            model.initial_noise.covariance(),
            *_dynamics(model),
            model.readout_matrix(),
            model.readout_offset(None),
            model.likelihood.variance(),
        )


def _data(model: LowRankRNN, trials: int, steps: int) -> torch.Tensor:
    _, observations = model.generate(trials, steps, generator=torch.Generator().manual_seed(1))
    return observations


def _estimates(model: LowRankRNN, observations: torch.Tensor, proposal: str, particles: int, repeats: int):
    generator = torch.Generator().manual_seed(2)
    batch = observations.repeat(repeats, 1, 1)
    with torch.no_grad():
        result = run_smc(model, batch, torch.ones_like(batch), particles, proposal=proposal, generator=generator)
    return result.log_marginal.reshape(repeats, -1)


def test_optimal_proposal_is_exact_for_one_particle_and_one_step() -> None:
    for readout in ("affine", "one_to_one"):
        model = _linear_model(readout)
        observations = _data(model, trials=5, steps=1)
        estimate = _estimates(model, observations, "optimal", particles=1, repeats=3)
        exact = _kalman(model, observations)
        torch.testing.assert_close(estimate, exact.expand(3, -1), rtol=0, atol=1e-9)


def test_estimates_converge_to_kalman_and_optimal_has_lower_variance() -> None:
    model = _linear_model()
    observations = _data(model, trials=3, steps=20)
    exact = _kalman(model, observations)
    errors, spreads = {}, {}
    for proposal in ("optimal", "bootstrap"):
        for particles in (4, 256):
            estimates = _estimates(model, observations, proposal, particles, repeats=20)
            errors[proposal, particles] = (estimates.mean(0) - exact).abs().max().item()
            spreads[proposal, particles] = estimates.std(0).mean().item()
    for proposal in ("optimal", "bootstrap"):
        assert errors[proposal, 256] < errors[proposal, 4]
        assert spreads[proposal, 256] < spreads[proposal, 4]
    assert errors["optimal", 256] < 0.05
    assert errors["bootstrap", 256] < 0.5
    assert spreads["optimal", 4] < 0.5 * spreads["bootstrap", 4]
    assert spreads["optimal", 256] < 0.5 * spreads["bootstrap", 256]


def test_encoder_proposal_is_unbiased_for_any_encoder_output() -> None:
    """Importance weights N(z; F, Σ_z) p(y|z) / r(z) correct any encoder: at T = 1 with many particles log p̂ is
    the exact evidence even for an encoder that points elsewhere; and the proposal mixes the encoder in (0 < α < 1)."""
    model = _linear_model(noise="diag")
    observations = _data(model, trials=4, steps=1)
    exact = _kalman(model, observations)
    generator = torch.Generator().manual_seed(5)
    encoder_output = (
        torch.randn(4, 1, 2, generator=generator, dtype=torch.float64),
        torch.zeros(4, 1, 2, dtype=torch.float64),
    )
    with torch.no_grad():
        result = run_smc(model, observations, torch.ones_like(observations), 20000, proposal="encoder",
                         encoder_output=encoder_output, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(result.log_marginal, exact, rtol=0, atol=0.1)  # MC error ≈ 0.03
    assert result.encoder_alpha is not None and 0.01 < result.encoder_alpha < 0.99


def test_smc_filtering_means_match_the_kalman_filter() -> None:
    model = _linear_model()
    observations = _data(model, trials=3, steps=15)
    exact = _kalman(model, observations, means=True).filtered_means
    with torch.no_grad():
        result = run_smc(model, observations, torch.ones_like(observations), 4000, proposal="optimal",
                         generator=torch.Generator().manual_seed(3), keep_filtering=True, keep_paths=True)
    torch.testing.assert_close(result.filtering_mean, exact, rtol=0, atol=0.03)
    # the smoothed means use all data: at the last step they are the filtered ones
    torch.testing.assert_close(result.smoothed_mean()[:, -1], exact[:, -1], rtol=0, atol=0.03)


def test_backward_smoother_matches_rts_where_the_genealogy_has_collapsed() -> None:
    """FFBSm's smoothed means equal the Rauch–Tung–Striebel ones; the genealogy of the final particles, degenerate
    on a long window, is several times further off at early steps."""
    model = _linear_model()
    observations = _data(model, trials=3, steps=80)
    exact = rts_smoothed_means(_kalman(model, observations, means=True), *_dynamics(model))
    with torch.no_grad():
        result = run_smc(model, observations, torch.ones_like(observations), 256, proposal="optimal",
                         generator=torch.Generator().manual_seed(4), keep_paths=True, keep_clouds=True)
        weights = backward_smoothing_weights(model, result.particles, result.log_weights)
    assert weights.shape == (256, 3, 80)
    torch.testing.assert_close(weights.sum(0), torch.ones(3, 80, dtype=torch.float64))
    backward = torch.einsum("kbt,kbtr->btr", weights, result.particles)
    genealogy = result.smoothed_mean()
    backward_error = (backward - exact).abs()
    genealogy_error = (genealogy - exact)[:, :40].abs().mean()
    assert backward_error.max() < 0.1
    assert backward_error[:, :40].mean() < 0.5 * genealogy_error  # measured 0.012 against 0.043
