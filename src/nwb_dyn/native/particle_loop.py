"""The compiled forward and backward loops of a low-rank SMC sweep (``particle_loop.cpp``).

It computes what :mod:`nwb_dyn.inference.particle_chain` computes step by step with torch, for proposals that move
particles by z = s ⊙ F + o with a diagonal Gaussian log-ratio and Poisson observations (bootstrap and encoder
proposals) or by z = F·S + o with a predictive weight quadratic in F (the optimal proposal for Gaussian
observations): ancestors, prior means, particles, log-weights, the Poisson log-likelihoods and their slopes in η,
and, for a backward pass, the transitions' activations; and the chain's backward pass, from those activations or
recomputing them row by row. The torch loops stay the reference; tests hold the two equal in float64.

Shapes: T steps, K particles, B sequences, R latents, N units, D channels.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import NamedTuple

import torch

from nwb_dyn.native.build import load_library, native_enabled

_SOURCE = Path(__file__).with_name("particle_loop.cpp")
_ACTIVATION_CODES = {"relu": 0, "clipped_relu": 1, "tanh": 2, "identity": 3}
# What the fused row kernels of particle_loop.cpp cover (fused_transition_for there): where they do, the backward
# pass recomputes the activations faster than the forward loop could keep them (N = 512, K·B = 512, T = 40: a
# training sweep 0.03 s recomputing against 0.14 s keeping; equal at the Poisson tutorial's N = 40).
_FUSED_MAX_RANK = 8
_FUSED_ACTIVATIONS = ("relu", "clipped_relu", "identity")
_LINK_CODES = {"softplus": 0, "exp": 1}


class PredictiveWeight(NamedTuple):
    """A log-weight −½ (F·(F·C_t) − F·l_t + e_t) of the prior mean alone: curvature C (T, B, R, R), linear l
    (T, B, R), constant e (T, B) (the optimal Gaussian proposal's one-step predictive density)."""

    curvature: torch.Tensor
    linear: torch.Tensor
    constant: torch.Tensor


class ProposalMove(NamedTuple):
    """z_t = s_t ⊙ F_t + o_t (or F_t·S_t + o_t) and log-ratio c_t − ½ Σ_r λ_t,r (z − F)_r², plus a predictive weight.

    share: s (T, B, R), S (T, B, R, R) with ``matrix_share``, or None for s = 1; shift: o (T, K, B, R);
    ratio_constant: c (T, K, B) and ratio_precision: λ (T, R), both None for a proposal without a ratio;
    predictive: the weight's term in F, or None.
    """

    share: torch.Tensor | None
    shift: torch.Tensor
    ratio_constant: torch.Tensor | None
    ratio_precision: torch.Tensor | None
    matrix_share: bool = False
    predictive: PredictiveWeight | None = None


class PoissonData(NamedTuple):
    """One sweep's counts in step-major layout: observations and readout offsets (T, B, D), mask (T, B, D) or None
    when every channel is observed, log_factorial Σ_d mask·log y! (T, B), readout W (R, D) and the link name."""

    observations: torch.Tensor
    readout_offsets: torch.Tensor
    mask: torch.Tensor | None
    log_factorial: torch.Tensor
    readout: torch.Tensor
    link: str


class LoopInputs(NamedTuple):
    """The chain's side of the loop: first_mean (B, R), input currents (B, T, N) or None, the transition's decay a
    (0-dim), m (N, R), n (R, N), h (N,) and activation, resampling offsets (T, B) float64, and whether to keep the
    transitions' activations for a backward pass (not done where the fused kernels recompute them faster)."""

    first_mean: torch.Tensor
    currents: torch.Tensor | None
    decay: torch.Tensor
    m: torch.Tensor
    n: torch.Tensor
    h: torch.Tensor
    activation: str
    offsets: torch.Tensor
    keep_activations: bool


class KeptActivations(NamedTuple):
    """Every transition's φ and ∂φ/∂x (T − 1, K·B, N), and ∂φ/∂h for the clipped ReLU (else None)."""

    rates: torch.Tensor
    slope_x: torch.Tensor
    slope_h: torch.Tensor | None


class LoopOutput(NamedTuple):
    """prior_means, particles (T, K, B, R); log_weights (T, K, B); likelihoods (T, K, B), or None without
    observations; ancestors (T − 1, K, B) int64; slopes (T, K, B, D) or None; rates, slope_x (T − 1, K·B, N) and slope_h (clipped ReLU) or None when the
    activations were not kept."""

    prior_means: torch.Tensor
    particles: torch.Tensor
    log_weights: torch.Tensor
    ancestors: torch.Tensor
    likelihoods: torch.Tensor | None
    slopes: torch.Tensor | None
    rates: torch.Tensor | None
    slope_x: torch.Tensor | None
    slope_h: torch.Tensor | None


class _SweepArgs(ctypes.Structure):
    """Mirror of ``SweepArgs`` in particle_loop.cpp (the library reports its size, checked at load)."""

    _fields_ = [
        *[(name, ctypes.c_int64) for name in ("steps", "particles", "batch", "rank", "units", "channels")],
        *[(name, ctypes.c_int64) for name in ("activation", "link", "is_double", "matrix_share")],
        ("decay", ctypes.c_double),
        *[
            (name, ctypes.c_void_p)
            for name in (
                "first_mean", "share", "shift", "ratio_constant", "ratio_precision", "curvature", "linear",
                "predictive_constant", "currents", "m", "n", "h", "offsets", "observations", "readout", "readout_offsets", "mask", "log_factorial", "priors",
                "particles_out", "log_weights", "ancestors", "likelihoods", "slopes", "rates", "slope_x", "slope_h",
            )
        ],
    ]


class _BackwardArgs(ctypes.Structure):
    """Mirror of ``BackwardArgs`` in particle_loop.cpp."""

    _fields_ = [
        *[
            (name, ctypes.c_int64)
            for name in ("steps", "particles", "batch", "rank", "units", "activation", "matrix_share", "is_double")
        ],
        ("decay", ctypes.c_double),
        *[
            (name, ctypes.c_void_p)
            for name in (
                "particles_in", "ancestors", "share", "m", "n", "h", "currents", "rates", "slope_x", "slope_h",
                "grad_priors",
                "grad_particles", "grad_m", "grad_n", "grad_h", "grad_currents",
            )
        ],
    ]


def _library() -> ctypes.CDLL | None:
    library = load_library(_SOURCE) if native_enabled() else None
    if library is None:
        return None
    expected = ctypes.sizeof(_SweepArgs) * 1000 + ctypes.sizeof(_BackwardArgs)
    return library if library.nwb_dyn_particle_loop_abi() == expected else None


def _library_for(dtype: torch.dtype, device: torch.device) -> ctypes.CDLL | None:
    """The library, where it can run tensors of this dtype on this device; else None."""
    return _library() if device.type == "cpu" and dtype in (torch.float32, torch.float64) else None


def native_loop_available(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether :func:`run_particle_loop` can run for tensors of this dtype on this device."""
    return _library_for(dtype, device) is not None


def _pointer(tensor: torch.Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def run_particle_loop(
    move: ProposalMove, data: PoissonData | None, loop: LoopInputs, with_slopes: bool
) -> LoopOutput | None:
    """Run one sweep's forward loop compiled; None where the compiled kernel is unavailable (use the torch loop).

    data: the Poisson observations, or None when the move's weights hold everything (the optimal proposal); then
    likelihoods and slopes come back None. with_slopes: also return ∂ log p/∂η (a sweep that will be differentiated
    records them).
    """
    first_mean, currents, decay, m, n, h, activation, offsets, keep_activations = loop
    steps, particles, batch, rank = move.shift.shape
    keep_activations = keep_activations and not (rank <= _FUSED_MAX_RANK and activation in _FUSED_ACTIVATIONS)
    dtype = move.shift.dtype
    library = _library_for(dtype, move.shift.device)
    if library is None:
        return None
    units = m.shape[0]
    channels = 0 if data is None else data.readout.shape[1]
    with_slopes = with_slopes and data is not None

    def ready(tensor: torch.Tensor | None) -> torch.Tensor | None:
        return None if tensor is None else tensor.detach().to(dtype).contiguous()

    predictive = move.predictive
    inputs = {
        "first_mean": ready(first_mean.expand(batch, rank)),
        "share": ready(move.share),
        "shift": ready(move.shift),
        "ratio_constant": ready(move.ratio_constant),
        "ratio_precision": ready(move.ratio_precision),
        "curvature": None if predictive is None else ready(predictive.curvature),
        "linear": None if predictive is None else ready(predictive.linear),
        "predictive_constant": None if predictive is None else ready(predictive.constant),
        "currents": ready(currents),
        "m": ready(m),
        "n": ready(n),
        "h": ready(h),
        "offsets": offsets.detach().to(torch.float64).contiguous(),
        "observations": None if data is None else ready(data.observations),
        "readout": None if data is None else ready(data.readout),
        "readout_offsets": None if data is None else ready(data.readout_offsets),
        "mask": None if data is None else ready(data.mask),
        "log_factorial": None if data is None else ready(data.log_factorial),
    }
    rows = particles * batch
    kept_shape = (max(steps - 1, 0), rows, units)
    outputs = {
        "priors": torch.empty((steps, particles, batch, rank), dtype=dtype),
        "particles_out": torch.empty((steps, particles, batch, rank), dtype=dtype),
        "log_weights": torch.empty((steps, particles, batch), dtype=dtype),
        "ancestors": torch.empty((max(steps - 1, 0), particles, batch), dtype=torch.int64),
        "likelihoods": None if data is None else torch.empty((steps, particles, batch), dtype=dtype),
        "slopes": torch.empty((steps, particles, batch, channels), dtype=dtype) if with_slopes else None,
        "rates": torch.empty(kept_shape, dtype=dtype) if keep_activations else None,
        "slope_x": torch.empty(kept_shape, dtype=dtype) if keep_activations else None,
        "slope_h": torch.empty(kept_shape, dtype=dtype) if keep_activations and activation == "clipped_relu" else None,
    }
    arguments = _SweepArgs(
        steps, particles, batch, rank, units, channels, _ACTIVATION_CODES[activation],
        _LINK_CODES["softplus" if data is None else data.link], int(dtype == torch.float64), int(move.matrix_share),
        float(decay), **{name: _pointer(tensor) for name, tensor in {**inputs, **outputs}.items()},
    )
    status = library.nwb_dyn_particle_loop(ctypes.byref(arguments))
    if status != 0:
        raise ValueError(f"compiled particle loop rejected its arguments (code {status}): K, B, T and R must be ≥ 1")
    return LoopOutput(
        outputs["priors"], outputs["particles_out"], outputs["log_weights"], outputs["ancestors"],
        outputs["likelihoods"], outputs["slopes"], outputs["rates"], outputs["slope_x"], outputs["slope_h"],
    )


class BackwardOutput(NamedTuple):
    """grad_priors: ∂L/∂F (T, K, B, R) including what flows back through later steps; grad_particles: ∂L/∂z_t
    (T, K, B, R) through later steps only; grad_m (N, R), grad_n (R, N), grad_h (N,); grad_currents (B, T, N) or
    None."""

    grad_priors: torch.Tensor
    grad_particles: torch.Tensor
    grad_m: torch.Tensor
    grad_n: torch.Tensor
    grad_h: torch.Tensor
    grad_currents: torch.Tensor | None


def run_particle_loop_backward(
    particles: torch.Tensor, ancestors: torch.Tensor, kept: KeptActivations | None,
    grad_prior_means: torch.Tensor | None, move_share: torch.Tensor | None, matrix_share: bool, loop: LoopInputs,
) -> BackwardOutput | None:
    """The chain's backward pass compiled, after :func:`run_particle_loop`: particles (T, K, B, R), ancestors
    (T − 1, K, B) and its kept activations, or None to recompute them row by row from ``loop`` (its currents, m, h
    and activation). None where it cannot run (use the torch backward pass).

    grad_prior_means: ∂L/∂F (T, K, B, R) from the batched pass, or None for zero; move_share: the move's s
    (T, B, R), S (T, B, R, R) with ``matrix_share``, or None for s = 1; the input currents' gradient is returned
    when ``loop`` has currents.
    """
    library = _library_for(particles.dtype, particles.device)
    if library is None:
        return None
    steps, count, batch, rank = particles.shape
    dtype = particles.dtype
    units = loop.m.shape[0]
    with_currents = loop.currents is not None
    grad_priors = (
        torch.zeros_like(particles) if grad_prior_means is None else grad_prior_means.to(dtype).contiguous().clone()
    )
    outputs = {
        "grad_priors": grad_priors,
        "grad_particles": torch.zeros_like(particles),
        "grad_m": torch.zeros((units, rank), dtype=dtype),
        "grad_n": torch.zeros((rank, units), dtype=dtype),
        "grad_h": torch.zeros(units, dtype=dtype),
        "grad_currents": torch.zeros((batch, steps, units), dtype=dtype) if with_currents else None,
    }

    def ready(tensor: torch.Tensor | None) -> torch.Tensor | None:
        return None if tensor is None else tensor.detach().to(dtype).contiguous()

    inputs = {
        "particles_in": particles.contiguous(),
        "ancestors": ancestors.contiguous(),
        "share": ready(move_share),
        "m": ready(loop.m),
        "n": ready(loop.n),
        "h": ready(loop.h),
        "currents": ready(loop.currents),
        "rates": None if kept is None else kept.rates,
        "slope_x": None if kept is None else kept.slope_x,
        "slope_h": None if kept is None else kept.slope_h,
    }
    arguments = _BackwardArgs(
        steps, count, batch, rank, units, _ACTIVATION_CODES[loop.activation], int(matrix_share),
        int(dtype == torch.float64), float(loop.decay),
        **{name: _pointer(tensor) for name, tensor in {**inputs, **outputs}.items()},
    )
    if library.nwb_dyn_particle_loop_backward(ctypes.byref(arguments)) != 0:
        raise ValueError("compiled particle loop backward rejected its arguments: K, B, T and R must be ≥ 1")
    return BackwardOutput(**outputs)
