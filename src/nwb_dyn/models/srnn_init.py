"""Initial discrete-state labels for SRNN training, and label bookkeeping.

The SRNN's first training phase pulls its posterior state marginals towards hard labels so that every state is used
(Zhang & Saxena 2024, §3; without it the fit tends to collapse onto one state). Labels come from
- ``"kmeans"``: k-means on a PCA projection of the observations (of spike counts: of the log of the smoothed counts,
  an estimate of the log rates, :func:`log_smoothed_counts`),
- ``"hmm"``: a Gaussian HMM with tied diagonal covariance fitted by EM to the same projection, started from the
  k-means labels; its Viterbi path,
- ``"random"``: a random sticky Markov chain (dwell about T / (2K) steps) per trial.
Also: relabelling by order of first appearance (the paper's convention for comparing to behavioural epochs);
Hungarian matching lives in ``nwb_dyn.analysis.metrics.states.match_states``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from nwb_dyn.errors import ConfigError
from nwb_dyn.inference.forward_backward import forward_backward, viterbi
from nwb_dyn.models.initialisation import channel_means, smooth_in_time

INIT_METHODS = ("kmeans", "hmm", "random")


def pca_projection(observations: Tensor, num_components: int) -> Tensor:
    """Project y (B, T, D) on its first principal components: (B, T, min(num_components, D))."""
    flat = observations.flatten(0, 1).double()
    centred = flat - flat.mean(dim=0)
    _, _, right_vectors = torch.linalg.svd(centred, full_matrices=False)
    components = right_vectors[: min(num_components, flat.shape[1])]
    return (centred @ components.T).unflatten(0, observations.shape[:2]).to(observations.dtype)


def kmeans(
    points: Tensor, num_clusters: int, generator: torch.Generator, restarts: int = 5, iterations: int = 50
) -> Tensor:
    """Lloyd's k-means with k-means++ seeding on points (N, F); the lowest-inertia restart's labels (N,) int64."""
    best_labels, best_inertia = None, math.inf
    for _ in range(restarts):
        centres = points[torch.randint(len(points), (1,), generator=generator)]
        for _ in range(1, num_clusters):
            distance = torch.cdist(points, centres).min(dim=1).values ** 2
            next_index = torch.multinomial(distance / distance.sum(), 1, generator=generator)
            centres = torch.cat([centres, points[next_index]])
        for _ in range(iterations):
            labels = torch.cdist(points, centres).argmin(dim=1)
            updated = torch.stack(
                [
                    points[labels == k].mean(0) if (labels == k).any() else centres[k]
                    for k in range(num_clusters)
                ]
            )
            if torch.allclose(updated, centres):
                break
            centres = updated
        labels = torch.cdist(points, centres).argmin(dim=1)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    assert best_labels is not None
    return best_labels


def hmm_em_states(
    initial_labels: Tensor, num_states: int, iterations: int, emission_log_likelihood: Callable[[Tensor], Tensor]
) -> Tensor:
    """Viterbi states (B, T) of an HMM fitted by EM, started from hard labels (B, T).

    ``emission_log_likelihood`` maps responsibilities (B, T, K) to the per-bin log-likelihood (B, T, K) under the
    emission parameters those responsibilities re-estimate (the M step of the emissions). Transitions and the initial
    distribution get Dirichlet(2) priors, which keep every row proper.
    """
    num_trials, num_steps = initial_labels.shape
    responsibilities = torch.nn.functional.one_hot(initial_labels, num_states).double()  # (B, T, K)
    pairwise = responsibilities[:, :-1, :, None] * responsibilities[:, 1:, None, :]
    for iteration in range(iterations + 1):
        transition = pairwise.sum(dim=(0, 1)) + 1.0
        log_transition = torch.log(transition / transition.sum(-1, keepdim=True))
        log_initial = torch.log((responsibilities[:, 0].sum(0) + 1.0) / (num_trials + num_states))
        chain = (
            log_initial.expand(num_trials, -1),
            log_transition.expand(num_trials, num_steps, -1, -1),
            emission_log_likelihood(responsibilities),
        )
        if iteration == iterations:
            return viterbi(*chain)
        posterior = forward_backward(*chain)
        responsibilities, pairwise = posterior.marginals, posterior.pairwise_marginals
    raise AssertionError("unreachable")


def gaussian_hmm_states(
    features: Tensor, initial_labels: Tensor, num_states: int, iterations: int = 20
) -> Tensor:
    """Viterbi states (B, T) of a Gaussian HMM fitted by EM to features (B, T, F), started from labels (B, T).

    States differ in their means; the diagonal covariance is shared (tied) by all states. With a variance per state
    the fit can split a state into a tight and a broad one that differ only in spread, and from k-means starts it
    did so on simulated switching systems (state accuracy below k-means'); tied, it is k-means made sticky in time.
    """
    features = features.double()
    variance_floor = 1e-4 * features.var(dim=(0, 1)).mean()

    def log_likelihood(responsibilities: Tensor) -> Tensor:
        weight = responsibilities.sum(dim=(0, 1)) + 1e-6  # (K,)
        means = torch.einsum("btk,btf->kf", responsibilities, features) / weight[:, None]
        deviations = features[:, :, None] - means  # (B, T, K, F)
        variances = (torch.einsum("btk,btkf->f", responsibilities, deviations**2) / weight.sum()).clamp_min(
            variance_floor
        )
        return (-0.5 * (deviations**2 / variances + torch.log(2 * math.pi * variances))).sum(-1)

    return hmm_em_states(initial_labels, num_states, iterations, log_likelihood)


def random_sticky_labels(
    num_trials: int, num_steps: int, num_states: int, generator: torch.Generator
) -> Tensor:
    """Per-trial random Markov chains (B, T) that switch state with probability 2K / T per step."""
    switch_probability = min(1.0, 2 * num_states / num_steps)
    labels = torch.randint(num_states, (num_trials, 1), generator=generator)
    steps = [labels[:, 0]]
    for _ in range(1, num_steps):
        switch = torch.rand(num_trials, generator=generator) < switch_probability
        jump = torch.randint(1, max(num_states, 2), (num_trials,), generator=generator)
        steps.append(torch.where(switch, (steps[-1] + jump) % num_states, steps[-1]))
    return torch.stack(steps, dim=1)


#: Offset inside the log of smoothed counts, as a fraction of each channel's mean: keeps silent stretches finite
#: without letting the log of near-zero rates dominate.
LOG_OFFSET_FRACTION = 0.1


def log_smoothed_counts(counts: Tensor, mask: Tensor, smoothing_bins: float) -> Tensor:
    """log(smoothed counts + 0.1·channel mean), (B, T, D) float64, from counts and their observed entries (B, T, D).

    Unobserved entries take their channel's observed mean before smoothing. Through a log-linear (or, at low rates,
    softplus) readout the log rate is linear in the latents, so principal components of these features span the
    latent space; components of the raw counts are dominated by the few high-rate units and bend with the
    exponential, and clusters found there need not be the states (measured on simulated switching systems).
    """
    channel_mean = channel_means(counts, mask, np.arange(counts.shape[0]))[0].double()
    counts, mask = counts.double(), mask.double()
    filled = counts * mask + channel_mean * (1 - mask)
    smoothed = smooth_in_time(filled, smoothing_bins) if smoothing_bins > 0 else filled
    return torch.log(smoothed + (LOG_OFFSET_FRACTION * channel_mean).clamp_min(1e-6))


def initial_state_labels(
    observations: Tensor,
    num_states: int,
    method: str = "kmeans",
    num_components: int = 10,
    seed: int = 0,
    smoothing_bins: float = 0.0,
    counts_mask: Tensor | None = None,
) -> Tensor:
    """Hard initial labels (B, T) int64 in [0, K) for y (B, T, D); see the module docstring for the methods.

    ``smoothing_bins`` > 0 first smooths y in time with a Gaussian of that std. ``counts_mask`` (B, T, D), given for
    spike counts, marks their observed entries; the projection is then of :func:`log_smoothed_counts`.
    """
    if method not in INIT_METHODS:
        raise ConfigError(f"srnn init method {method!r} is unknown; use one of {', '.join(INIT_METHODS)}")
    generator = torch.Generator().manual_seed(seed)
    num_trials, num_steps, _ = observations.shape
    if method == "random":
        return random_sticky_labels(num_trials, num_steps, num_states, generator)
    if counts_mask is not None:
        observations = log_smoothed_counts(observations, counts_mask, smoothing_bins)
    elif smoothing_bins > 0:
        observations = smooth_in_time(observations.double(), smoothing_bins)
    features = pca_projection(observations, num_components).double()
    # one common scale, not per-component whitening, which would inflate low-variance directions for k-means
    features = features / features.flatten(0, 1).std(dim=0).max().clamp_min(1e-12)
    labels = kmeans(features.flatten(0, 1), num_states, generator).unflatten(0, (num_trials, num_steps))
    if method == "hmm":
        return gaussian_hmm_states(features, labels, num_states)
    return labels


def relabel_by_first_appearance(labels: Tensor) -> Tensor:
    """Rename states within each trial (B, T) in order of first appearance: 0, 1, 2, … (unseen states keep the rest)."""
    relabelled = torch.empty_like(labels)
    for trial, trial_labels in enumerate(labels):
        order = list(dict.fromkeys(trial_labels.tolist()))
        mapping = {state: rank for rank, state in enumerate(order)}
        relabelled[trial] = torch.tensor([mapping[state] for state in trial_labels.tolist()])
    return relabelled
