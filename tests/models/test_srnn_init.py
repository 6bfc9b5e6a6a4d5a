"""Initial state labels: k-means, Gaussian HMM on PCA, random sticky chains, relabelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nwb_dyn.analysis.metrics.states import match_states
from nwb_dyn.errors import ConfigError
from nwb_dyn.models.initialisation import smooth_in_time
from nwb_dyn.models.srnn_init import (
    initial_state_labels,
    pca_projection,
    relabel_by_first_appearance,
)


def _sticky_hmm_data(separation: float, seed: int = 0):
    """Two-state sticky chain (switch prob 0.05) emitting 6-D Gaussians whose means differ by ``separation``."""
    generator = torch.Generator().manual_seed(seed)
    states = [torch.zeros(20, dtype=torch.long)]
    for _ in range(99):
        switch = torch.rand(20, generator=generator) < 0.05
        states.append(torch.where(switch, 1 - states[-1], states[-1]))
    states = torch.stack(states, 1)
    direction = torch.randn(6, generator=generator)
    direction = direction / direction.norm()
    observations = torch.randn(20, 100, 6, generator=generator) + separation * states[..., None] * direction
    return observations, states


def _accuracy(labels: torch.Tensor, states: torch.Tensor) -> float:
    return match_states(states.numpy(), labels.numpy()).accuracy


def test_kmeans_recovers_separated_clusters_exactly() -> None:
    observations, states = _sticky_hmm_data(separation=12.0)
    assert _accuracy(initial_state_labels(observations, 2, "kmeans", num_components=3), states) == 1.0


def test_hmm_uses_time_and_beats_kmeans_on_overlapping_states() -> None:
    observations, states = _sticky_hmm_data(separation=2.0)
    kmeans_accuracy = _accuracy(initial_state_labels(observations, 2, "kmeans"), states)
    hmm_accuracy = _accuracy(initial_state_labels(observations, 2, "hmm"), states)
    # per-step Bayes accuracy at separation 2 is Φ(1) ≈ 0.84; sticky smoothing gets far above it
    assert kmeans_accuracy < 0.85
    assert hmm_accuracy > kmeans_accuracy + 0.1


def test_random_labels_switch_at_the_documented_rate() -> None:
    labels = initial_state_labels(torch.zeros(200, 100, 2), 4, "random", seed=5)
    assert labels.min() >= 0 and labels.max() <= 3 and labels.dtype == torch.long
    switch_rate = float((labels[:, 1:] != labels[:, :-1]).double().mean())
    assert abs(switch_rate - 2 * 4 / 100) < 0.01  # 19,800 Bernoulli(0.08) draws: standard error 0.002


def test_pca_projection_keeps_the_dominant_direction() -> None:
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(5, 40, 1, generator=generator, dtype=torch.float64)
    loading = torch.tensor([[1.0, 2.0, -2.0]], dtype=torch.float64)
    projected = pca_projection(latent @ loading, 2)
    assert projected.shape == (5, 40, 2)
    correlation = np.corrcoef(projected[..., 0].flatten(), latent.flatten())[0, 1]
    assert abs(correlation) == pytest.approx(1.0)
    torch.testing.assert_close(projected[..., 1], torch.zeros(5, 40, dtype=torch.float64), atol=1e-9, rtol=0)


def test_smoothing_matches_explicit_normalised_gaussian_average() -> None:
    generator = torch.Generator().manual_seed(0)
    observations = torch.randn(2, 12, 3, generator=generator, dtype=torch.float64)
    smoothed = smooth_in_time(observations, 1.5)
    steps = torch.arange(12, dtype=torch.float64)
    weights = torch.exp(-0.5 * ((steps[:, None] - steps[None, :]) / 1.5) ** 2)
    weights = weights * ((steps[:, None] - steps[None, :]).abs() <= 5)  # the kernel's radius ceil(3 × 1.5)
    expected = torch.einsum("ts,bsd->btd", weights / weights.sum(1, keepdim=True), observations)
    torch.testing.assert_close(smoothed, expected)


def test_relabel_by_first_appearance_per_trial() -> None:
    labels = torch.tensor([[2, 2, 0, 1, 0], [1, 0, 0, 2, 1]])
    expected = torch.tensor([[0, 0, 1, 2, 1], [0, 1, 1, 2, 0]])
    assert torch.equal(relabel_by_first_appearance(labels), expected)


def test_unknown_method_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="'spectral' is unknown; use one of kmeans, hmm, random"):
        initial_state_labels(torch.zeros(1, 5, 2), 2, "spectral")


def test_count_labels_recover_planted_states_with_a_never_observed_channel() -> None:
    """Sparse counts (0.05–0.4 spikes per bin) from a sticky 2-state chain; one channel is held out (never observed),
    as in co-smoothing. The labels recover the states; a held-out channel (mean 0) must not turn the log features
    into -inf or NaN (which labelled every bin state 0)."""
    _, states = _sticky_hmm_data(separation=0.0, seed=3)
    generator = torch.Generator().manual_seed(4)
    rates = torch.rand(2, 12, generator=generator) * 0.35 + 0.05  # (K, D) counts per bin
    counts = torch.poisson(rates[states], generator=generator)  # (B, T, D)
    mask = torch.ones_like(counts)
    mask[..., -1] = 0.0  # the held-out channel
    labels = initial_state_labels(counts * mask, 2, "hmm", smoothing_bins=2.0, counts_mask=mask)
    shuffled = labels[torch.randperm(len(labels), generator=generator)]  # right occupancy, wrong trials
    # 0.86 measured: states that differ only in rates, with no latent dynamics, are a Poisson HMM's home ground
    assert _accuracy(labels, states) > 0.8
    assert _accuracy(shuffled, states) < 0.65


def test_count_labels_weigh_units_by_relative_not_absolute_modulation() -> None:
    """20 units at about 1 spike per bin switch their rates 2-fold with a sticky 2-state chain; 3 units at about 50
    spikes per bin ignore the states and drift slowly by ±30 %. In count units the drift of the fast units carries
    most of the variance, so labels from the raw counts' components follow it; in log units (the labels for spike
    counts) every unit's modulation counts by its relative size, and the states are found."""
    _, states = _sticky_hmm_data(separation=0.0, seed=5)
    generator = torch.Generator().manual_seed(6)
    preferred = torch.randint(2, (20,), generator=generator)  # the state in which each slow unit fires faster
    slow_rates = torch.where(states[..., None] == preferred, 1.4, 0.7)  # (B, T, 20)
    drift = smooth_in_time(torch.randn(20, 100, 3, generator=generator, dtype=torch.float64), 10.0).float()
    fast_rates = 50.0 * torch.exp(0.3 * drift / drift.std())  # (B, T, 3)
    counts = torch.poisson(torch.cat([slow_rates, fast_rates], dim=-1), generator=generator)
    labels = initial_state_labels(counts, 2, "hmm", smoothing_bins=2.0, counts_mask=torch.ones_like(counts))
    raw_labels = initial_state_labels(counts, 2, "hmm", smoothing_bins=2.0)  # as if the counts were signals
    assert _accuracy(labels, states) > 0.9
    assert _accuracy(raw_labels, states) < 0.7
