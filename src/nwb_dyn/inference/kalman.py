"""Exact Kalman-filter log-likelihood of a linear-Gaussian state-space model: the oracle for SMC's estimate.

    z_1 ~ N(μ_1, Σ_1);  z_{t+1} = A z_t + b + ε_t, ε_t ~ N(0, Q);  y_t = Wᵀ z_t + c + δ_t, δ_t ~ N(0, diag(σ²)).

A low-rank RNN with identity φ is such a model: A = a·I + n·m, b = −n·h (algorithms.md §8.1).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


class KalmanFilterResult(NamedTuple):
    """log_likelihood: (B,) log p(y_{1:T}); filtered_means: (B, T, R) E[z_t | y_{1:t}]; filtered_covariances:
    (B, T, R, R) Cov[z_t | y_{1:t}]."""

    log_likelihood: torch.Tensor
    filtered_means: torch.Tensor
    filtered_covariances: torch.Tensor


def kalman_log_likelihood(*args: torch.Tensor) -> torch.Tensor:
    """log p(y_{1:T}) per sequence (B,); the arguments of :func:`kalman_filter`."""
    return kalman_filter(*args).log_likelihood


def kalman_filter(
    observations: torch.Tensor,
    initial_mean: torch.Tensor,
    initial_covariance: torch.Tensor,
    transition_matrix: torch.Tensor,
    transition_offset: torch.Tensor,
    transition_covariance: torch.Tensor,
    readout: torch.Tensor,
    readout_offset: torch.Tensor,
    observation_variance: torch.Tensor,
) -> torch.Tensor:
    """Exact filtering of observations (B, T, D): log-likelihood per sequence and filtered means.

    initial_mean (R,), initial_covariance (R, R), transition_matrix A (R, R), transition_offset b (R,),
    transition_covariance Q (R, R), readout W (R, D), readout_offset c (D,), observation_variance σ² (D,).
    """
    batch, steps, channels = observations.shape
    mean = initial_mean.expand(batch, -1)
    covariance = initial_covariance.expand(batch, -1, -1)
    total = torch.zeros(batch, dtype=observations.dtype)
    means, covariances = [], []
    for t in range(steps):
        if t > 0:
            mean = mean @ transition_matrix.T + transition_offset
            covariance = transition_matrix @ covariance @ transition_matrix.T + transition_covariance
        predicted = mean @ readout + readout_offset  # (B, D)
        innovation_cov = readout.T @ covariance @ readout + torch.diag(observation_variance)  # (B, D, D)
        factor = torch.linalg.cholesky(innovation_cov)
        residual = observations[:, t] - predicted
        whitened = torch.linalg.solve_triangular(factor, residual.unsqueeze(-1), upper=False).squeeze(-1)
        log_det = 2 * torch.log(torch.diagonal(factor, dim1=-2, dim2=-1)).sum(-1)
        total = total - 0.5 * ((whitened**2).sum(-1) + log_det + channels * math.log(2 * math.pi))
        gain = torch.linalg.solve(innovation_cov, (covariance @ readout).transpose(-1, -2)).transpose(-1, -2)
        mean = mean + (gain @ residual.unsqueeze(-1)).squeeze(-1)
        covariance = covariance - gain @ readout.T @ covariance
        covariance = 0.5 * (covariance + covariance.transpose(-1, -2))
        means.append(mean)
        covariances.append(covariance.expand(batch, -1, -1))
    return KalmanFilterResult(total, torch.stack(means, dim=1), torch.stack(covariances, dim=1))


def rts_smoothed_means(
    filtered: KalmanFilterResult,
    transition_matrix: torch.Tensor,
    transition_offset: torch.Tensor,
    transition_covariance: torch.Tensor,
) -> torch.Tensor:
    """E[z_t | y_{1:T}] (B, T, R) by the Rauch–Tung–Striebel backward pass over a filter's output.

    transition_matrix A (R, R), transition_offset b (R,), transition_covariance Q (R, R): the filter's model.
    """
    means, covariances = filtered.filtered_means, filtered.filtered_covariances
    smoothed = [means[:, -1]]
    for t in range(means.shape[1] - 2, -1, -1):
        covariance = covariances[:, t]
        predicted_covariance = transition_matrix @ covariance @ transition_matrix.T + transition_covariance
        gain = torch.linalg.solve(predicted_covariance, transition_matrix @ covariance).transpose(-1, -2)  # P Aᵀ P⁻¹
        predicted_mean = means[:, t] @ transition_matrix.T + transition_offset
        smoothed.append(means[:, t] + (gain @ (smoothed[-1] - predicted_mean).unsqueeze(-1)).squeeze(-1))
    return torch.stack(smoothed[::-1], dim=1)
