"""Marginal smoothing of an SMC sweep by forward filtering, backward smoothing (FFBSm; Doucet & Johansen's review).

The genealogy of the final particles (``SMCResult.smoothed_mean``) collapses onto a few ancestors a few dozen steps
back (path degeneracy), so on long windows its early smoothed latents rest on one or two particles. FFBSm reweights
every step's filtering cloud instead, backwards from the last step:

    w̃_T^i = W_T^i,   w̃_t^i = W_t^i Σ_j w̃_{t+1}^j f(z_{t+1}^j | z_t^i) / Σ_l W_t^l f(z_{t+1}^j | z_t^l),

with W_t the normalised filtering weights and f the model's transition density N(z_{t+1}; F(z_t, u_t), Σ_z). Every
step uses all K particles, at O(K²·R) per step and sequence (K = 64: negligible next to the forward sweep).
The squared distances are computed in float64 whatever the particles' dtype: between whitened coordinates of size x
they lose about ε·x² in float32 (0.7 at x = 1e3, 80 at 1e4), far more than the O(1) differences they carry.
"""

from __future__ import annotations

import torch

from nwb_dyn.models.lowrank import LowRankRNN


@torch.no_grad()
def backward_smoothing_weights(
    model: LowRankRNN,
    particles: torch.Tensor,
    log_weights: torch.Tensor,
    input_current: torch.Tensor | None = None,
) -> torch.Tensor:
    """Normalised marginal smoothing weights (K, B, T), in the particles' dtype, of the filtering clouds of one sweep.

    particles: (K, B, T, R) the particles of every step after propagation (``SMCResult.particles``); log_weights:
    (K, B, T) their unnormalised filtering log-weights; input_current: (B, T, N) W_u·u or None (the transition
    into step t + 1 uses the input of step t, as in the sweep).
    """
    steps = particles.shape[2]
    factor = model.transition_noise.cholesky().double()  # (R, R) lower, Σ_z = L Lᵀ
    filtering = torch.log_softmax(log_weights.double(), dim=0)  # log W_t (K, B, T)
    smoothed = [filtering[:, :, -1].exp().to(particles.dtype)]  # w̃_T (K, B)
    for t in range(steps - 2, -1, -1):
        current = None if input_current is None else input_current[:, t]
        means = model.transition_mean(particles[:, :, t], current)  # F(z_t^i) (K_i, B, R)
        # log W_t^i f(z_{t+1}^j | z_t^i) with log f = −½‖L⁻¹(z_{t+1}^j − F_i)‖² + const (the constant cancels)
        log_joint = filtering[:, :, t].T.unsqueeze(1) - 0.5 * whitened_square_distances(
            factor, particles[:, :, t + 1], means
        )  # (B, K_j, K_i)
        # Row j of the backward kernel, W_t^i f_ji / Σ_l W_t^l f_jl, is a distribution over i, and
        # w̃_t^i = Σ_j w̃_{t+1}^j kernel_ji: one softmax and one batched product per step, in the particles' dtype
        # (the exact distances are what float32 could not give; their softmax it can, at 2.7× the speed).
        kernel = torch.softmax(log_joint.to(particles.dtype), dim=2)
        weights = torch.bmm(smoothed[-1].T.unsqueeze(1), kernel).squeeze(1)  # (B, K_i)
        smoothed.append((weights / weights.sum(dim=1, keepdim=True)).T)  # renormalised against round-off
    return torch.stack(smoothed[::-1], dim=2)

def whitened_square_distances(factor: torch.Tensor, targets: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """(B, K_j, K_i) float64 squared distances ‖L⁻¹(targets_j − sources_i)‖² for targets (K_j, B, R), sources
    (K_i, B, R) and a lower-triangular factor L (R, R).

    Whitened and differenced in float64, without the ‖a‖² + ‖b‖² − 2a·b expansion cdist uses for speed: that
    expansion cancels catastrophically when the points lie far from the origin but close to each other.
    """
    factor = factor.double()
    whitened_targets = _whiten(factor, targets.double()).transpose(0, 1)  # (B, K_j, R)
    whitened_sources = _whiten(factor, sources.double()).transpose(0, 1)  # (B, K_i, R)
    distances = torch.cdist(whitened_targets, whitened_sources, compute_mode="donot_use_mm_for_euclid_dist")
    return distances.square()


def _whiten(factor: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """L⁻¹·v for values (..., R) and a lower-triangular factor L (R, R) of the same dtype."""
    flat = values.reshape(-1, values.shape[-1]).T
    return torch.linalg.solve_triangular(factor, flat, upper=False).T.reshape(values.shape)
