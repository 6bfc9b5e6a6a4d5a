"""SMC proposals r_t(z_t | z_{t−1}, y) for the low-rank RNN and their incremental importance weights (§1.10).

Every proposal is prepared once per sweep: everything that does not depend on a particle's ancestor — including the
scaled proposal noise of all T steps — is computed for all B sequences at once. Each proposal moves the prior mean
affinely, z_t = S_t·F_t + o_t, which is all the sequential chain (:mod:`nwb_dyn.inference.particle_chain`) needs;
given all T prior means, :meth:`Proposal.sweep` computes every particle and log-weight in batched operations with the
same formulas that :meth:`Proposal.step` applies to one step.

* :class:`BootstrapProposal`: r_t = p(z_t | z_{t−1}); w_t = p(y_t | z_t).
* :class:`OptimalGaussianProposal`: r_t = p(z_t | z_{t−1}, y_t) in closed form for a Gaussian likelihood with a
  linear readout; its weight is the one-step predictive N(y_t; Wᵀ·F + c, WᵀΣW + Σ_y), computed analytically (it
  does not depend on the sampled z_t, algorithms.md §1.10b) in R dimensions via the Woodbury identity, so no
  particle ever touches a D×D matrix or even a D-vector.
* :class:`EncoderProposal`: the normalised product of the (diagonal) transition and an encoder's diagonal Gaussian
  N(μ_e,t, σ²_e,t); w_t = p(y_t | z_t) N(z_t; F, Σ_z) / r_t(z_t).

Shapes: particles (K, B, R) per step, (T, K, B, R) for a sweep; noise (T, K, B, R) standard normal; observations and
mask (B, T, D); input currents (B, T, N) or None.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch

from nwb_dyn.errors import ConfigError
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.models.poisson_step import linear_predictor_likelihood, log_factorials
from nwb_dyn.native.particle_loop import (
    LoopInputs,
    LoopOutput,
    PoissonData,
    PredictiveWeight,
    ProposalMove,
    run_particle_loop,
)

PROPOSALS = ("bootstrap", "optimal", "encoder")


class Proposal(Protocol):
    """What an SMC sweep asks of a proposal.

    first_mean: (B, R) prior mean of z_1. scale_kind: how S_t acts (``identity``, ``diagonal``, ``matrix``).
    """

    first_mean: torch.Tensor
    scale_kind: str

    def chain_map(self) -> tuple[torch.Tensor | None, torch.Tensor]:
        """S_t for all steps ((T, B, R), (T, R, R) or (T, B, R, R); None for the identity) and o_t (T, K, B, R)."""

    def step(self, t: int, prior_mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Particles z_t (K, B, R) given the prior means F_t (K, B, R), and their log-weights (K, B)."""

    def sweep(self, prior_means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`step` for all steps at once: F (T, K, B, R) → particles (T, K, B, R), log-weights (T, K, B)."""

    def native_loop(self, loop: LoopInputs) -> LoopOutput | None:
        """The chain's forward loop run compiled (:mod:`nwb_dyn.native.particle_loop`), or None where this proposal
        or observation model has no compiled loop; a Poisson likelihood records its values and slopes."""


class _Observed:
    """The observation model evaluated at particles: y, mask, readout W and offsets for one sweep.

    With ``record`` (a differentiable sweep with Poisson observations), the per-step log-likelihoods also compute
    their slopes in η and keep them, so that :meth:`log_likelihoods` returns the loop's values as a differentiable
    function of all steps' particles without evaluating the link or the log again.
    """

    def __init__(
        self, model: LowRankRNN, observations: torch.Tensor, mask: torch.Tensor, input_current: torch.Tensor | None,
        record: bool = False,
    ) -> None:
        self.model = model
        self.observations = observations
        self.mask = mask
        self.matrix = model.readout_matrix()  # (R, D)
        offset = model.readout_offset(input_current)  # (D,) or (B, T, D)
        self.offsets = offset.expand(observations.shape) if offset.dim() == 1 else offset
        # Per-step views made once with unbind: indexing [:, t] inside the loop would make autograd build a full
        # (B, T, D) zero gradient per step in backward, O(T²) work over a sweep.
        self.step_offsets = self.offsets.unbind(1)
        self.step_observations = observations.unbind(1)
        self.step_mask = mask.unbind(1)
        self.poisson = model.likelihood.name == "poisson"
        if self.poisson:
            with torch.no_grad():
                self.log_factorial = log_factorials(observations, mask)  # (B, T)
                self.step_log_factorial = self.log_factorial.unbind(1)  # T × (B,)
                # None where every channel is observed: the per-step value then skips multiplying by the mask.
                self.step_mask_or_none = [None] * len(self.step_mask) if bool(torch.all(mask == 1)) else self.step_mask
        # Recorded log-likelihoods (T × (K, B)) and their slopes, written step by step into one (T, K, B, D) buffer.
        self.recorded: list[torch.Tensor] | None = [] if (record and self.poisson) else None
        self.recorded_slopes: torch.Tensor | None = None

    def run_native(self, move: ProposalMove, loop: LoopInputs) -> LoopOutput | None:
        """The compiled forward loop for Poisson observations (None otherwise, or where it is unavailable); a
        recording sweep keeps the loop's log-likelihoods and slopes as :meth:`log_likelihood` would have."""
        if not self.poisson:
            return None
        step_major = [tensor.transpose(0, 1) for tensor in (self.observations, self.offsets, self.mask)]
        observations, offsets, mask = step_major
        data = PoissonData(
            observations, offsets, None if self.step_mask_or_none[0] is None else mask,
            self.log_factorial.T, self.matrix, self.model.likelihood.link,
        )
        output = run_particle_loop(move, data, loop, with_slopes=self.recorded is not None)
        if output is not None and self.recorded is not None:
            self.recorded = list(output.likelihoods.unbind(0))
            self.recorded_slopes = output.slopes
        return output

    def log_likelihood(self, t: int, particles: torch.Tensor) -> torch.Tensor:
        """log p(y_t | z_t) (K, B) for particles (K, B, R)."""
        if not self.poisson or (self.recorded is None and torch.is_grad_enabled()):
            return self.model.likelihood.log_prob(
                self.step_observations[t], particles, self.matrix, self.step_offsets[t], self.step_mask[t]
            )
        slope_out = None
        if self.recorded is not None:
            if self.recorded_slopes is None:
                steps, channels = self.observations.shape[1], self.observations.shape[2]
                self.recorded_slopes = particles.new_empty((steps, *particles.shape[:2], channels))
            slope_out = self.recorded_slopes[t]
        value, _ = self.model.likelihood.value_and_slope(  # computed without autograd
            self.step_observations[t], particles, self.matrix, self.step_offsets[t], self.step_mask_or_none[t],
            self.step_log_factorial[t], self.recorded is not None, slope_out,
        )
        if self.recorded is not None:
            self.recorded.append(value)
        return value

    def log_likelihoods(self, particles: torch.Tensor) -> torch.Tensor:
        """log p(y_t | z_t) (T, K, B) for the particles of all steps (T, K, B, R)."""
        steps_first = [tensor.transpose(0, 1).unsqueeze(1) for tensor in (self.observations, self.offsets, self.mask)]
        observations, offsets, mask = steps_first  # (T, 1, B, D) each
        if self.recorded is not None and len(self.recorded) == particles.shape[0]:
            values = torch.stack(self.recorded)
            return linear_predictor_likelihood(particles, self.matrix, offsets, values, self.recorded_slopes)
        return self.model.likelihood.log_prob(observations, particles, self.matrix, offsets, mask)


def _initial_mean(model: LowRankRNN, input_current: torch.Tensor | None, batch: int) -> torch.Tensor:
    """(B, R) prior mean of z_1."""
    mean = model.initial_mean_given(None if input_current is None else input_current[:, 0])
    return mean.expand(batch, -1)


class BootstrapProposal:
    """Propose from the transition prior (S_t = I, o_t = the scaled noise); weight by the likelihood."""

    scale_kind = "identity"

    def __init__(
        self,
        model: LowRankRNN,
        observations: torch.Tensor,
        mask: torch.Tensor,
        input_current: torch.Tensor | None,
        noise: torch.Tensor,
        record: bool = False,
    ) -> None:
        self.observed = _Observed(model, observations, mask, input_current, record)
        self.first_mean = _initial_mean(model, input_current, observations.shape[0])
        self.shift = torch.cat(
            [noise[:1] @ model.initial_noise.cholesky().T, noise[1:] @ model.transition_noise.cholesky().T]
        )  # (T, K, B, R)
        self.step_shift = self.shift.unbind(0)

    def chain_map(self) -> tuple[None, torch.Tensor]:
        return None, self.shift

    def step(self, t: int, prior_mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        particles = prior_mean + self.step_shift[t]
        return particles, self.observed.log_likelihood(t, particles)

    def sweep(self, prior_means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        particles = prior_means + self.shift
        return particles, self.observed.log_likelihoods(particles)

    def native_loop(self, loop: LoopInputs) -> LoopOutput | None:
        return self.observed.run_native(ProposalMove(None, self.shift, None, None), loop)


class OptimalGaussianProposal:
    """p(z_t | z_{t−1}, y_t) for y_t ~ N(Wᵀz_t + c_t, diag(σ²)) and z_t ~ N(F, Σ) (Σ = Σ_1 at t = 1, else Σ_z).

    With masked precisions Π_y = diag(mask/σ²), A = W Π_y Wᵀ, g = W Π_y (y − c), s = (y − c)ᵀ Π_y (y − c), the
    posterior precision is Λ + A (Λ = Σ⁻¹), covariance P = (Λ + A)⁻¹, mean P Λ F + P g, and the predictive weight
    log N(y; WᵀF + c, S) has (Woodbury and the matrix-determinant lemma)

        (y − c − WᵀF)ᵀ S⁻¹ (y − c − WᵀF) = (s − gᵀPg) − 2 Fᵀ(g − APg) + Fᵀ(A − APA)F,
        log det S = log det Σ_y + log det Σ + log det(Λ + A).

    So per particle only F·[PΛ | A − APA] (one (R, 2R) product) and a few R-vector operations remain.
    """

    scale_kind = "matrix"

    def __init__(
        self,
        model: LowRankRNN,
        observations: torch.Tensor,
        mask: torch.Tensor,
        input_current: torch.Tensor | None,
        noise: torch.Tensor,
    ) -> None:
        if model.likelihood.name != "gaussian":
            raise ConfigError(
                "lowrank.proposal 'optimal' needs Gaussian observations (lowrank.obs gaussian); use 'encoder' or "
                "'bootstrap' for spike counts"
            )
        observed = _Observed(model, observations, mask, input_current)
        batch, steps, _ = observations.shape
        rank = model.rank
        variance = model.likelihood.variance()  # (D,)
        precision = mask / variance  # (B, T, D)
        residual = observations - observed.offsets
        # With every channel observed (the usual case) A and everything derived from it is one (R, R) matrix per
        # step, applied with plain matrix products instead of per-sequence batched ones.
        self.shared = bool(torch.all(mask == 1))
        masked = precision[:1, :1] if self.shared else precision
        gram = torch.einsum("rd,btd,sd->btrs", observed.matrix, masked, observed.matrix)  # A
        gram = gram.expand(gram.shape[0], steps, rank, rank)
        projected = (residual * precision) @ observed.matrix.T  # g (B, T, R)
        energy = (residual * residual * precision).sum(-1)  # s (B, T)
        log_det_y = (mask * torch.log(variance)).sum(-1) + mask.sum(-1) * math.log(2 * math.pi)  # (B, T)
        parts = [
            self._prepare(model.initial_noise.cholesky(), gram[:, :1], projected[:, :1], noise[:1]),
            self._prepare(model.transition_noise.cholesky(), gram[:, 1:], projected[:, 1:], noise[1:]),
        ]
        self.combined, self.data_mean, self.scaled_noise, log_det, self.quadratic_offset, self.linear_term = (
            torch.cat(pair, dim=0 if index == 2 else 1) for index, pair in enumerate(zip(*parts))
        )
        self.constant = energy + log_det_y + log_det - self.quadratic_offset  # (B, T): s − gᵀPg + log det S
        # z_t = F·(PΛ)ᵀ + P g + chol(P)·ε: the shift o_t (T, K, B, R) and, shared or per sequence, S_t = (PΛ)ᵀ.
        self.shift = self.data_mean.transpose(0, 1).unsqueeze(1) + self.scaled_noise
        # Per-step views, made once (see _Observed).
        self.step_combined = (self.combined[0] if self.shared else self.combined.transpose(0, 1)).unbind(0)
        self.step_shift = self.shift.unbind(0)
        self.step_linear = self.linear_term.unbind(1)
        self.step_constant = self.constant.unbind(1)
        self.first_mean = _initial_mean(model, input_current, batch)
        self.rank = rank

    def _prepare(
        self, prior_factor: torch.Tensor, gram: torch.Tensor, projected: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Per-step quantities for the steps in ``gram`` (B or 1, T', R, R), ``projected`` g (B, T', R).

        Returns [PΛ | A − APA]ᵀ (B or 1, T', R, 2R), P g (B, T', R), chol(P)·noise (T', K, B, R),
        log det Σ + log det(Λ + A) (B or 1, T'), gᵀPg (B, T') and 2(g − APg) (B, T', R).
        """
        rank = prior_factor.shape[0]
        eye = torch.eye(rank, dtype=prior_factor.dtype, device=prior_factor.device)
        prior_precision = torch.cholesky_inverse(prior_factor)  # Λ
        precision_factor = torch.linalg.cholesky(prior_precision + gram)  # chol(Λ + A)
        covariance = torch.cholesky_inverse(precision_factor)  # P
        covariance = 0.5 * (covariance + covariance.transpose(-1, -2))
        factor = torch.linalg.cholesky(covariance + 1e-10 * eye)
        log_det = 2 * (
            torch.log(torch.diagonal(prior_factor)).sum() + torch.log(torch.diagonal(precision_factor, dim1=-2, dim2=-1)).sum(-1)
        )
        gain = covariance @ prior_precision  # PΛ
        curvature = gram - gram @ covariance @ gram  # A − APA
        combined = torch.cat([gain.transpose(-1, -2), curvature], dim=-1)  # F @ combined = [PΛF | (A − APA)F]
        data_mean = (covariance @ projected.unsqueeze(-1)).squeeze(-1)  # P g
        linear = 2 * (projected - (gram @ data_mean.unsqueeze(-1)).squeeze(-1))  # 2(g − APg)
        quadratic_offset = (projected * data_mean).sum(-1)  # gᵀPg
        if factor.shape[0] == 1:
            scaled_noise = noise @ factor[0].transpose(-1, -2).unsqueeze(1)  # (T', K, B, R)
        else:
            scaled_noise = torch.einsum("tkbr,btsr->tkbs", noise, factor)
        return combined, data_mean, scaled_noise, log_det, quadratic_offset, linear

    def chain_map(self) -> tuple[torch.Tensor, torch.Tensor]:
        gain = self.combined[..., : self.rank]  # (B or 1, T, R, R)
        return (gain[0] if self.shared else gain.transpose(0, 1)), self.shift

    def _propose(
        self, prior_mean: torch.Tensor, combined: torch.Tensor, shift: torch.Tensor, linear: torch.Tensor,
        constant: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Particles and log-weights for prior means F (..., K, B, R): combined (..., R, 2R) shared or
        (..., B, R, 2R) per sequence, shift (..., K, B, R), linear (..., B, R), constant (..., B)."""
        if self.shared:  # one (K·B, R) @ (R, 2R) product per step, not K·B-row ones per particle
            flat = prior_mean.reshape(*prior_mean.shape[:-3], -1, self.rank)
            product = (flat @ combined).reshape(*prior_mean.shape[:-1], 2 * self.rank)  # (..., K, B, 2R)
        else:
            product = torch.einsum("...kbr,...brs->...kbs", prior_mean, combined)
        particles = product[..., : self.rank] + shift
        quadratic = (prior_mean * (product[..., self.rank :] - linear)).sum(-1)
        return particles, -0.5 * (quadratic + constant)

    def step(self, t: int, prior_mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._propose(
            prior_mean, self.step_combined[t], self.step_shift[t], self.step_linear[t], self.step_constant[t]
        )

    def sweep(self, prior_means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        combined = self.combined[0] if self.shared else self.combined.transpose(0, 1)  # (T, R, 2R) or (T, B, R, 2R)
        linear = self.linear_term.transpose(0, 1).unsqueeze(1)  # (T, 1, B, R)
        constant = self.constant.transpose(0, 1).unsqueeze(1)  # (T, 1, B)
        return self._propose(prior_means, combined, self.shift, linear, constant)

    def native_loop(self, loop: LoopInputs) -> LoopOutput | None:
        """The compiled loop with z = F·(PΛ)ᵀ + o and the predictive weight; no observation term per particle."""
        batch, steps = self.constant.shape
        per_step = self.combined.expand(batch, steps, self.rank, 2 * self.rank).transpose(0, 1)  # (T, B, R, 2R)
        weight = PredictiveWeight(per_step[..., self.rank :], self.linear_term.transpose(0, 1), self.constant.T)
        move = ProposalMove(per_step[..., : self.rank], self.shift, None, None, matrix_share=True, predictive=weight)
        return run_particle_loop(move, None, loop, with_slopes=False)


class EncoderProposal:
    """Normalised product of the diagonal transition N(F, σ_z²) and the encoder's N(μ_e,t, σ_e,t²) (§1.10c).

    encoder_mean, encoder_log_variance: (B, T, R). ``alpha``: the mean weight λ_e/(λ_z + λ_e) the proposal gives
    the encoder (near 0 means the encoder is ignored and the proposal collapsed to bootstrap).
    """

    scale_kind = "diagonal"

    def __init__(
        self,
        model: LowRankRNN,
        observations: torch.Tensor,
        mask: torch.Tensor,
        input_current: torch.Tensor | None,
        noise: torch.Tensor,
        encoder_mean: torch.Tensor,
        encoder_log_variance: torch.Tensor,
        record: bool = False,
    ) -> None:
        if model.transition_noise.kind != "diag":
            raise ConfigError(
                "lowrank.proposal 'encoder' needs diagonal latent noise (lowrank.noise_covariance diag): the product "
                "of Gaussians is taken elementwise"
            )
        self.observed = _Observed(model, observations, mask, input_current, record)
        encoder_precision = torch.exp(-encoder_log_variance.clamp(math.log(1e-8), math.log(100.0)))  # λ_e (B, T, R)
        steps = observations.shape[1]
        prior_variance = torch.cat(
            [model.initial_std().pow(2).expand(1, -1), model.transition_std().pow(2).expand(steps - 1, -1)]
        )  # (T, R)
        prior_precision = 1.0 / prior_variance  # λ_z
        precision = prior_precision + encoder_precision  # (B, T, R)
        variance = 1.0 / precision
        prior_share = prior_precision * variance  # λ_z/(λ_z + λ_e): weight of F in the proposal mean (B, T, R)
        data_mean = variance * encoder_precision * encoder_mean  # (B, T, R)
        std = variance.sqrt()
        # z_t = share_t ⊙ F + shift_t with everything but F summed for all T at once: shift = mean + σ·ε (T, K, B, R).
        shift = torch.addcmul(data_mean.transpose(0, 1).unsqueeze(1), noise, std.transpose(0, 1).unsqueeze(1))
        # log N(z; F, σ_z²) − log r(z) = −½ Σ [(z − F)²λ_z − ε² + log(σ_z² (λ_z + λ_e))]
        log_ratio_constant = -0.5 * (
            torch.log(prior_variance * precision).sum(-1).transpose(0, 1).unsqueeze(1) - (noise * noise).sum(-1)
        )  # (T, K, B)
        self.prior_precision = prior_precision  # (T, R)
        self.prior_share = prior_share.transpose(0, 1)  # S_t, (T, B, R)
        self.shift = shift
        self.log_ratio_constant = log_ratio_constant
        # Per-step views, made once (see _Observed).
        self.step_precision = prior_precision.unsqueeze(-1).unbind(0)  # T × (R, 1)
        self.step_share = self.prior_share.unbind(0)
        self.step_shift = shift.unbind(0)
        self.step_constant = log_ratio_constant.unbind(0)
        self.first_mean = _initial_mean(model, input_current, observations.shape[0])
        self.alpha = float((encoder_precision * variance).detach().mean())

    def chain_map(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.prior_share, self.shift

    @staticmethod
    def _propose(
        prior_mean: torch.Tensor, share: torch.Tensor, shift: torch.Tensor, constant: torch.Tensor,
        precision: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z = s ⊙ F + o and log N(z; F, σ_z²) − log r(z) = c − ½ Σ_r λ_z,r (z − F)_r², for F (..., K, B, R), share s
        (..., B, R), shift o (..., K, B, R), constant c (..., K, B) and precision λ_z as a column (..., R, 1)."""
        particles = torch.addcmul(shift, share, prior_mean)
        deviation = particles - prior_mean
        return particles, torch.sub(constant, (deviation.square() @ precision).squeeze(-1), alpha=0.5)

    def step(self, t: int, prior_mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        particles, log_ratio = self._propose(
            prior_mean, self.step_share[t], self.step_shift[t], self.step_constant[t], self.step_precision[t]
        )
        return particles, self.observed.log_likelihood(t, particles) + log_ratio

    def sweep(self, prior_means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        precision = self.prior_precision[:, None, :, None]  # (T, 1, R, 1)
        particles, log_ratio = self._propose(
            prior_means, self.prior_share.unsqueeze(1), self.shift, self.log_ratio_constant, precision
        )
        return particles, self.observed.log_likelihoods(particles) + log_ratio

    def native_loop(self, loop: LoopInputs) -> LoopOutput | None:
        move = ProposalMove(self.prior_share, self.shift, self.log_ratio_constant, self.prior_precision)
        return self.observed.run_native(move, loop)
