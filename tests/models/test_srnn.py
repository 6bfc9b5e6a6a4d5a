"""SRNN generative model, encoder and objective against direct computations with torch.distributions."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.distributions import Normal, Poisson

from nwb_dyn.inference.forward_backward import forward_backward
from nwb_dyn.inference.srnn_elbo import infer_posterior, srnn_objective
from nwb_dyn.models.inference_network import BidirectionalEncoder
from nwb_dyn.models.srnn import SwitchingRNN


def _model(emission: str, input_dim: int = 0) -> SwitchingRNN:
    torch.manual_seed(0)
    return SwitchingRNN(
        num_states=2,
        latent_dim=3,
        observation_dim=4,
        input_dim=input_dim,
        emission=emission,
        emission_hidden=(5,),
    ).double()


def _path_log_joint(model: SwitchingRNN, states, latents, observations, inputs) -> torch.Tensor:
    """log p(z, h, y) for one trial and one state path, written step by step from the model equations."""
    log_prior = torch.log_softmax(model.transitions.initial_logits, -1)[states[0]]
    log_prior = (
        log_prior
        + Normal(model.initial_mean[states[0]], model.initial_std()[states[0]]).log_prob(latents[0]).sum()
    )
    for t in range(1, len(states)):
        features = latents[t - 1] if inputs is None else torch.cat([latents[t - 1], inputs[t]])
        logits = model.transitions.logit_map(features).reshape(2, 2)
        logits = logits + model.transitions.stickiness * torch.eye(2)
        log_prior = log_prior + torch.log_softmax(logits[states[t - 1]], -1)[states[t]]
        k = states[t]
        preactivation = model.recurrent_weight[k] @ latents[t - 1] + model.recurrent_bias[k]
        if inputs is not None:
            preactivation = preactivation + model.input_weight[k] @ inputs[t]
        log_prior = (
            log_prior + Normal(torch.tanh(preactivation), model.dynamics_std()[k]).log_prob(latents[t]).sum()
        )
    emission = model.emission_map(latents)
    if model.emission == "poisson":
        log_observation = Poisson(torch.nn.functional.softplus(emission) + 1e-6).log_prob(observations).sum()
    else:
        log_observation = Normal(emission, model.observation_std()).log_prob(observations).sum()
    return log_prior + log_observation


@pytest.mark.parametrize(("emission", "input_dim"), [("gaussian", 0), ("gaussian", 2), ("poisson", 1)])
def test_collapsed_likelihood_matches_sum_over_paths(emission: str, input_dim: int) -> None:
    model = _model(emission, input_dim)
    time = 4
    generator = torch.Generator().manual_seed(1)
    latents = torch.randn(2, time, 3, generator=generator, dtype=torch.float64)
    inputs = torch.randn(2, time, input_dim, generator=generator, dtype=torch.float64) if input_dim else None
    if emission == "poisson":
        observations = torch.poisson(torch.full((2, time, 4), 2.0, dtype=torch.float64), generator=generator)
    else:
        observations = torch.randn(2, time, 4, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        posterior = forward_backward(*model.chain_potentials(latents, observations, inputs))
        for trial in range(2):
            trial_inputs = None if inputs is None else inputs[trial]
            log_joints = torch.stack(
                [
                    _path_log_joint(model, path, latents[trial], observations[trial], trial_inputs)
                    for path in itertools.product(range(2), repeat=time)
                ]
            )
            torch.testing.assert_close(posterior.log_normalizer[trial], torch.logsumexp(log_joints, 0))


def test_transitions_can_be_more_persistent_than_tanh_bounded_logits() -> None:
    model = _model("gaussian")
    with torch.no_grad():
        model.transitions.stickiness.fill_(8.0)
    log_transition = model.transitions.log_transition(torch.randn(3, 5, 3, dtype=torch.float64))
    probabilities = log_transition.exp()
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(3, 5, 2, dtype=torch.float64))
    # the authors' tanh-bounded logits cap a K = 2 self-transition at e / (e + 1/e) ≈ 0.88
    assert probabilities[:, 1:].diagonal(dim1=-2, dim2=-1).min() > 0.99


def test_generated_switch_rate_matches_transition_probability() -> None:
    model = _model("gaussian")
    with torch.no_grad():
        model.transitions.logit_map.weight.zero_()  # transitions independent of h: a fixed Markov chain
        model.transitions.stickiness.fill_(2.0)
    sample = model.generate(400, 50, generator=torch.Generator().manual_seed(2))
    switch_probability = 1 / (1 + torch.exp(torch.tensor(2.0)))
    switches = (sample.states[:, 1:] != sample.states[:, :-1]).double().mean()
    # 400 × 49 Bernoulli draws: standard error ≈ 0.0024
    assert abs(float(switches) - float(switch_probability)) < 0.01
    assert sample.latents.shape == (400, 50, 3) and sample.observations.shape == (400, 50, 4)


def test_generated_poisson_counts_have_the_emission_rates() -> None:
    model = _model("poisson")
    sample = model.generate(300, 40, generator=torch.Generator().manual_seed(3))
    assert torch.equal(sample.observations, sample.observations.round()) and sample.observations.min() >= 0
    # E[y - rate] = 0; with 48,000 counts of rate ≈ 1 the mean residual has standard error ≈ 0.005
    assert abs(float((sample.observations - sample.means).mean())) < 0.03


def test_encoder_entropy_and_sampling_match_normal_distribution() -> None:
    torch.manual_seed(0)
    encoder = BidirectionalEncoder(observation_dim=4, latent_dim=3, hidden_size=8, input_dim=1)
    posterior = encoder(torch.randn(2, 7, 4), torch.randn(2, 7, 1))
    torch.testing.assert_close(
        posterior.entropy(), Normal(posterior.mean, posterior.std).entropy().sum((-2, -1))
    )
    samples = posterior.rsample(4000, torch.Generator().manual_seed(0))
    assert samples.shape == (4000, 2, 7, 3)
    torch.testing.assert_close(samples.std(0), posterior.std, atol=0.05, rtol=0.05)


def test_causal_encoder_ignores_the_future() -> None:
    torch.manual_seed(0)
    encoder = BidirectionalEncoder(observation_dim=2, latent_dim=2, hidden_size=8, bidirectional=False)
    observations = torch.randn(1, 10, 2)
    changed = observations.clone()
    changed[:, 6:] += 5.0
    torch.testing.assert_close(encoder(observations).mean[:, :6], encoder(changed).mean[:, :6])
    assert not torch.allclose(encoder(observations).mean[:, 6:], encoder(changed).mean[:, 6:])


def test_objective_is_log_joint_plus_entropy_and_trains_posterior_noise() -> None:
    torch.manual_seed(0)
    model = SwitchingRNN(num_states=3, latent_dim=2, observation_dim=3)
    encoder = BidirectionalEncoder(observation_dim=3, latent_dim=2, hidden_size=8)
    observations = torch.randn(4, 12, 3)
    labels = torch.randint(3, (4, 12))
    terms = srnn_objective(model, encoder, observations, labels=labels, num_samples=2)
    torch.testing.assert_close(terms.elbo, terms.log_joint + terms.entropy)
    assert terms.elbo.shape == (4,) and bool((terms.label_cross_entropy > 0).all())
    (terms.elbo.sum() - terms.label_cross_entropy.sum()).backward()
    # the posterior std is learned (the authors' fixed 1e-6 std made q(h) deterministic)
    std_rows = encoder.head.weight.grad[2:]
    assert float(std_rows.abs().sum()) > 0


def test_infer_posterior_states_are_consistent() -> None:
    torch.manual_seed(0)
    model = SwitchingRNN(num_states=3, latent_dim=2, observation_dim=3)
    encoder = BidirectionalEncoder(observation_dim=3, latent_dim=2, hidden_size=8)
    result = infer_posterior(model, encoder, torch.randn(2, 15, 3))
    torch.testing.assert_close(result.state_probabilities.sum(-1), torch.ones(2, 15))
    assert result.map_states.shape == (2, 15) and result.means.shape == (2, 15, 3)
    assert not result.state_probabilities.requires_grad


@pytest.mark.parametrize("emission", ["gaussian", "poisson"])
def test_masked_channels_leave_the_likelihood(emission: str) -> None:
    model = _model(emission)
    generator = torch.Generator().manual_seed(4)
    latents = torch.randn(2, 6, 3, generator=generator, dtype=torch.float64)
    observations = torch.poisson(torch.full((2, 6, 4), 1.5, dtype=torch.float64), generator=generator)
    mask = torch.ones(2, 6, 4, dtype=torch.float64)
    mask[:, :, 2] = 0.0
    mask[0, 3, 0] = 0.0
    with torch.no_grad():
        masked = model.observation_log_likelihood(latents, observations, mask)
        changed = observations.clone()
        changed[:, :, 2] += 7.0  # hidden entries may hold anything
        changed[0, 3, 0] += 3.0
        torch.testing.assert_close(model.observation_log_likelihood(latents, changed, mask), masked)
        per_channel = [
            model.observation_log_likelihood(
                latents, observations, torch.eye(4, dtype=torch.float64)[d].expand(2, 6, 4)
            )
            for d in range(4)
        ]
        expected = per_channel[0] + per_channel[1] + per_channel[3]
        expected[0, 3] -= per_channel[0][0, 3]
        torch.testing.assert_close(masked, expected)


def test_per_trial_generators_make_noise_independent_of_batching() -> None:
    torch.manual_seed(0)
    encoder = BidirectionalEncoder(observation_dim=2, latent_dim=2, hidden_size=4)
    observations = torch.randn(3, 5, 2)
    posterior = encoder(observations)
    together = posterior.rsample(2, [torch.Generator().manual_seed(seed) for seed in (7, 8, 9)])
    alone = encoder(observations[1:2]).rsample(2, [torch.Generator().manual_seed(8)])
    torch.testing.assert_close(together[:, 1:2], alone)
