"""Forward–backward, the fast log normaliser and Viterbi against brute-force enumeration of all K^T paths."""

from __future__ import annotations

import itertools

import pytest
import torch

from nwb_dyn.inference.forward_backward import (
    forward_backward,
    hmm_log_normalizer,
    hmm_marginals,
    viterbi,
)


def _random_chain(batch: int, time: int, states: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    log_initial = torch.log_softmax(torch.randn(batch, states, generator=generator, dtype=torch.float64), -1)
    log_transition = torch.log_softmax(
        2.0 * torch.randn(batch, time, states, states, generator=generator, dtype=torch.float64), -1
    )
    log_likelihood = 3.0 * torch.randn(batch, time, states, generator=generator, dtype=torch.float64)
    return log_initial, log_transition, log_likelihood


def _path_log_joints(log_initial, log_transition, log_likelihood):
    """All K^T paths (P, T) and their log joint probabilities (B, P)."""
    _, time, states = log_likelihood.shape
    paths = torch.tensor(list(itertools.product(range(states), repeat=time)))
    steps = torch.arange(time)
    log_joint = log_initial[:, paths[:, 0]] + log_likelihood[:, steps, paths].sum(-1)
    for t in range(1, time):
        log_joint = log_joint + log_transition[:, t, paths[:, t - 1], paths[:, t]]
    return paths, log_joint


@pytest.mark.parametrize(("time", "states"), [(1, 3), (2, 2), (4, 3), (6, 2), (6, 3)])
def test_forward_backward_matches_enumeration(time: int, states: int) -> None:
    chain = _random_chain(batch=3, time=time, states=states, seed=10 * time + states)
    paths, log_joint = _path_log_joints(*chain)
    posterior = forward_backward(*chain)

    torch.testing.assert_close(posterior.log_normalizer, torch.logsumexp(log_joint, -1))
    path_probability = torch.softmax(log_joint, -1)  # (B, P)
    one_hot = torch.nn.functional.one_hot(paths, states).to(path_probability)  # (P, T, K)
    torch.testing.assert_close(posterior.marginals, torch.einsum("bp,ptk->btk", path_probability, one_hot))
    brute_pairwise = torch.einsum("bp,pti,ptj->btij", path_probability, one_hot[:, :-1], one_hot[:, 1:])
    torch.testing.assert_close(posterior.pairwise_marginals, brute_pairwise)


def test_pairwise_marginals_sum_to_single_marginals() -> None:
    posterior = forward_backward(*_random_chain(batch=2, time=30, states=4, seed=3))
    torch.testing.assert_close(posterior.pairwise_marginals.sum(-1), posterior.marginals[:, :-1])
    torch.testing.assert_close(posterior.pairwise_marginals.sum(-2), posterior.marginals[:, 1:])


def test_long_sequence_is_finite_and_matches_float64() -> None:
    chain64 = _random_chain(batch=2, time=2000, states=3, seed=4)
    chain32 = tuple(part.float() for part in chain64)
    torch.testing.assert_close(
        hmm_log_normalizer(*chain32).double(), forward_backward(*chain64).log_normalizer, rtol=1e-5, atol=1e-2
    )


@pytest.mark.parametrize(("time", "states"), [(1, 3), (3, 2), (4, 3), (6, 2)])
def test_tree_normalizer_and_gradient_match_enumeration(time: int, states: int) -> None:
    chain = _random_chain(batch=2, time=time, states=states, seed=7)
    fast_inputs = [part.clone().requires_grad_(True) for part in chain]
    brute_inputs = [part.clone().requires_grad_(True) for part in chain]
    weights = torch.tensor([0.7, -1.3], dtype=torch.float64)

    fast_value = hmm_log_normalizer(*fast_inputs)
    brute_value = torch.logsumexp(_path_log_joints(*brute_inputs)[1], -1)
    torch.testing.assert_close(fast_value, brute_value)
    (fast_value * weights).sum().backward()
    (brute_value * weights).sum().backward()

    for fast, brute in zip(fast_inputs, brute_inputs):
        # entry t = 0 of log_transition is unused: both gradients must be exactly zero there
        torch.testing.assert_close(fast.grad, brute.grad)


def test_tree_marginals_and_their_gradients_match_sequential_forward_backward() -> None:
    chain = _random_chain(batch=2, time=9, states=3, seed=11)
    labels = torch.randint(3, (2, 9), generator=torch.Generator().manual_seed(0))
    tree_inputs = [part.clone().requires_grad_(True) for part in chain]
    loop_inputs = [part.clone().requires_grad_(True) for part in chain]

    log_normalizer, marginals = hmm_marginals(*tree_inputs)
    posterior = forward_backward(*loop_inputs)
    torch.testing.assert_close(log_normalizer, posterior.log_normalizer)
    torch.testing.assert_close(marginals, posterior.marginals)
    # a label cross-entropy on the marginals (the SRNN initialisation penalty) needs second derivatives of the tree
    torch.log(marginals).gather(-1, labels[..., None]).sum().backward()
    torch.log(posterior.marginals).gather(-1, labels[..., None]).sum().backward()
    for tree, loop in zip(tree_inputs, loop_inputs):
        torch.testing.assert_close(tree.grad, loop.grad)


def test_tree_marginals_without_gradients_are_detached() -> None:
    with torch.no_grad():
        log_normalizer, marginals = hmm_marginals(*_random_chain(batch=1, time=5, states=2, seed=1))
    assert not log_normalizer.requires_grad and not marginals.requires_grad


@pytest.mark.parametrize(("time", "states"), [(1, 2), (5, 2), (6, 3)])
def test_viterbi_matches_enumeration(time: int, states: int) -> None:
    chain = _random_chain(batch=4, time=time, states=states, seed=time * states)
    paths, log_joint = _path_log_joints(*chain)
    assert torch.equal(viterbi(*chain), paths[log_joint.argmax(-1)])


def test_shape_mismatch_names_the_argument() -> None:
    log_initial, log_transition, log_likelihood = _random_chain(batch=2, time=4, states=3, seed=0)
    with pytest.raises(ValueError, match="log_transition must be"):
        forward_backward(log_initial, log_transition[:, 1:], log_likelihood)


def test_label_cross_entropy_gradient_holds_in_float32_with_sharp_likelihoods() -> None:
    """A Gaussian emission with noise at 1 % of the signal adds ~10⁴ per bin to every state's log-likelihood; the
    gradient of a cross-entropy on the marginals must still be the float64 one (it came out wrong in size and sign)."""
    generator = torch.Generator().manual_seed(3)
    observations = torch.randn(4, 60, generator=generator, dtype=torch.float64)
    labels = (observations > 0).long()
    log_transition = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64)).expand(4, 60, 2, 2)
    log_initial = torch.log(torch.full((4, 2), 0.5, dtype=torch.float64))

    def cross_entropy_gradient(dtype: torch.dtype) -> torch.Tensor:
        state_means = torch.tensor([-0.5, 0.5], dtype=dtype, requires_grad=True)
        shared_mean = torch.tensor(0.3, dtype=dtype, requires_grad=True)
        y = observations.to(dtype)
        shared = -0.5 * ((y - shared_mean) / 0.01) ** 2  # the emission term every state shares: ~-10⁴ per bin
        per_state = -0.5 * (y[..., None] - state_means) ** 2 / 0.3**2
        _, marginals = hmm_marginals(
            log_initial.to(dtype), log_transition.to(dtype), per_state + shared[..., None]
        )
        loss = -torch.log(marginals.clamp_min(1e-12)).gather(-1, labels[..., None]).sum()
        return torch.autograd.grad(loss, state_means)[0].double()

    torch.testing.assert_close(
        cross_entropy_gradient(torch.float32), cross_entropy_gradient(torch.float64), rtol=1e-3, atol=1e-3
    )
