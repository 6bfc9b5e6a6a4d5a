"""Log-space forward–backward and Viterbi for hidden Markov chains with time-varying transitions.

Pure functions over tensors, vectorised over batch and states; the only Python loop is over time.
They serve the switching RNN (SRNN, Zhang & Saxena 2024), where the discrete-state transition matrix at
time t depends on the continuous latent h_{t-1}, so every time step has its own matrix.

Shapes and conventions (B batch, T time, K discrete states):
    log_initial:     (B, K)        log p(z_0 = k)
    log_transition:  (B, T, K, K)  log_transition[b, t, i, j] = log p(z_t = j | z_{t-1} = i); rows sum to one
                                   in probability space; entry t = 0 is never read (there is no z_{-1}), which
                                   keeps the time axis aligned with the likelihoods
    log_likelihood:  (B, T, K)     log p(observations at t | z_t = k)

Each forward step is normalised (the filtered distribution stays a log-probability vector), so nothing
under- or overflows for long sequences; the log normaliser log p(observations) is the sum of the per-step
log normalisers.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class StatePosterior(NamedTuple):
    """Exact posterior over the discrete-state chain.

    log_normalizer:     (B,)            log p(observations), summed over all K^T paths
    marginals:          (B, T, K)       p(z_t = k | observations)
    pairwise_marginals: (B, T-1, K, K)  [b, t-1, i, j] = p(z_{t-1} = i, z_t = j | observations)
    """

    log_normalizer: Tensor
    marginals: Tensor
    pairwise_marginals: Tensor


def _check_shapes(log_initial: Tensor, log_transition: Tensor, log_likelihood: Tensor) -> None:
    batch, time, states = log_likelihood.shape
    if log_initial.shape != (batch, states):
        raise ValueError(f"log_initial must be (B, K) = {(batch, states)}, got {tuple(log_initial.shape)}")
    if log_transition.shape != (batch, time, states, states):
        raise ValueError(
            f"log_transition must be (B, T, K, K) = {(batch, time, states, states)}, "
            f"got {tuple(log_transition.shape)}"
        )


def forward_filter(
    log_initial: Tensor, log_transition: Tensor, log_likelihood: Tensor
) -> tuple[Tensor, Tensor]:
    """Normalised forward pass.

    Returns ``log_filtered`` (B, T, K) = log p(z_t | observations up to t) and ``log_step_normalizers``
    (B, T) = log p(observation_t | observations before t); their sum over time is log p(observations).
    Differentiable by autograd.
    """
    _check_shapes(log_initial, log_transition, log_likelihood)
    log_filtered_steps = []
    log_step_normalizers = []
    log_joint = log_initial + log_likelihood[:, 0]
    for t in range(log_likelihood.shape[1]):
        if t > 0:
            log_predicted = torch.logsumexp(
                log_filtered_steps[-1].unsqueeze(-1) + log_transition[:, t], dim=-2
            )
            log_joint = log_predicted + log_likelihood[:, t]
        log_step_normalizer = torch.logsumexp(log_joint, dim=-1)
        log_filtered_steps.append(log_joint - log_step_normalizer.unsqueeze(-1))
        log_step_normalizers.append(log_step_normalizer)
    return torch.stack(log_filtered_steps, dim=1), torch.stack(log_step_normalizers, dim=1)


def backward_pass(log_transition: Tensor, log_likelihood: Tensor) -> Tensor:
    """Backward messages, each renormalised over states (only ratios across k matter).

    Returns ``log_backward`` (B, T, K) with log_backward[:, t, i] ∝ log p(observations after t | z_t = i).
    """
    batch, time, states = log_likelihood.shape
    log_backward_steps = [log_likelihood.new_zeros(batch, states)]
    for t in range(time - 1, 0, -1):
        # message into z_{t-1} = i: logsumexp_j [log A_t(i, j) + b_t(j) + beta_t(j)]
        incoming = log_likelihood[:, t] + log_backward_steps[-1]
        message = torch.logsumexp(log_transition[:, t] + incoming.unsqueeze(-2), dim=-1)
        log_backward_steps.append(message - torch.logsumexp(message, dim=-1, keepdim=True))
    return torch.stack(log_backward_steps[::-1], dim=1)


def forward_backward(log_initial: Tensor, log_transition: Tensor, log_likelihood: Tensor) -> StatePosterior:
    """Smoothed single-step and pairwise state marginals and the log normaliser.

    Differentiable by autograd (used for the initialisation penalty, which needs gradients of marginals).
    """
    log_filtered, log_step_normalizers = forward_filter(log_initial, log_transition, log_likelihood)
    log_backward = backward_pass(log_transition, log_likelihood)
    marginals = torch.softmax(log_filtered + log_backward, dim=-1)
    # xi_t(i, j) ∝ alpha_{t-1}(i) + log A_t(i, j) + b_t(j) + beta_t(j), transition taken at t (not t-1)
    log_pairwise = (
        log_filtered[:, :-1, :, None]
        + log_transition[:, 1:]
        + (log_likelihood[:, 1:] + log_backward[:, 1:])[:, :, None, :]
    )
    flat = log_pairwise.flatten(-2)
    pairwise = torch.softmax(flat, dim=-1).reshape(log_pairwise.shape)
    return StatePosterior(log_step_normalizers.sum(dim=1), marginals, pairwise)


def _log_matmul(left: Tensor, right: Tensor) -> Tensor:
    """Matrix product in log space over the last two axes: (..., K, K) ⊗ (..., K, K) → (..., K, K)."""
    return torch.logsumexp(left.unsqueeze(-1) + right.unsqueeze(-3), dim=-2)


def hmm_log_normalizer(log_initial: Tensor, log_transition: Tensor, log_likelihood: Tensor) -> Tensor:
    """log p(observations) (B,), summed over all K^T state paths: the collapsed likelihood the SRNN maximises.

    Computed as a product of per-step log-space matrices M_t(i, j) = log A_t(i, j) + log p(obs_t | z_t = j),
    multiplied pairwise in a balanced tree: ⌈log2 T⌉ batched steps instead of a Python loop over T, which is
    what makes a training step cheap (about 8× faster than the sequential forward pass at T = 200 on CPU).
    Autograd through it gives the exact gradient (the smoothed marginals, by the log-partition identity).
    Memory is about 2·B·T·K³ values.
    """
    _check_shapes(log_initial, log_transition, log_likelihood)
    log_start = log_initial + log_likelihood[:, 0]
    matrices = log_transition[:, 1:] + log_likelihood[:, 1:].unsqueeze(-2)  # (B, T-1, K, K)
    if matrices.shape[1] == 0:
        return torch.logsumexp(log_start, dim=-1)
    while matrices.shape[1] > 1:
        count = matrices.shape[1]
        paired = _log_matmul(matrices[:, 0 : count - 1 : 2], matrices[:, 1:count:2])
        # an odd last matrix waits for the next level; order is kept, so the product stays M_1 M_2 … M_{T-1}
        matrices = torch.cat([paired, matrices[:, count - 1 :]], dim=1) if count % 2 else paired
    return torch.logsumexp(log_start.unsqueeze(-1) + matrices[:, 0], dim=(-2, -1))


def hmm_marginals(
    log_initial: Tensor, log_transition: Tensor, log_likelihood: Tensor
) -> tuple[Tensor, Tensor]:
    """log p(observations) (B,) and smoothed marginals p(z_t = k | observations) (B, T, K), both differentiable.

    The marginals are the gradient of the tree normaliser with respect to the log likelihoods (log-partition
    identity); built with ``create_graph`` they can themselves be differentiated (the SRNN label penalty needs
    this), several times faster than autograd through the sequential ``forward_backward``.

    Computed in float64 whatever the inputs' dtype (results come back in it): differentiating the marginals means
    differentiating softmax weights, i.e. covariances E[ab] − E[a]E[b] of the log-likelihoods' derivatives. With
    sharp likelihoods (a Gaussian emission whose noise is 1 % of the signal gives terms of 10⁴ per bin) float32
    cancels them away, and the gradient of a loss on the marginals came out wrong in size and sign.
    """
    track_gradients = torch.is_grad_enabled() and any(
        part.requires_grad for part in (log_initial, log_transition, log_likelihood)
    )
    dtype = log_likelihood.dtype
    with torch.enable_grad():
        likelihood = log_likelihood.double()
        if not likelihood.requires_grad:
            likelihood = likelihood.detach().requires_grad_()
        log_normalizer = hmm_log_normalizer(log_initial.double(), log_transition.double(), likelihood)
        (marginals,) = torch.autograd.grad(log_normalizer.sum(), likelihood, create_graph=track_gradients)
    if not track_gradients:
        log_normalizer = log_normalizer.detach()
    return log_normalizer.to(dtype), marginals.to(dtype)


def viterbi(log_initial: Tensor, log_transition: Tensor, log_likelihood: Tensor) -> Tensor:
    """Most probable state path argmax_z p(z | observations), (B, T) int64. No gradients."""
    _check_shapes(log_initial, log_transition, log_likelihood)
    with torch.no_grad():
        time = log_likelihood.shape[1]
        best_score = log_initial + log_likelihood[:, 0]
        backpointers = []
        for t in range(1, time):
            candidate = best_score.unsqueeze(-1) + log_transition[:, t]  # (B, previous i, next j)
            best_score, best_previous = candidate.max(dim=-2)
            best_score = best_score + log_likelihood[:, t]
            backpointers.append(best_previous)
        path = [best_score.argmax(dim=-1)]
        for best_previous in reversed(backpointers):
            path.append(best_previous.gather(-1, path[-1].unsqueeze(-1)).squeeze(-1))
        return torch.stack(path[::-1], dim=1)
