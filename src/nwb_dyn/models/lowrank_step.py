"""The low-rank transition mean F(z) = a·z + n·φ(m·z + c; h) as one fused autograd operation.

A plain autograd graph keeps the N-dimensional currents and rates of every particle at every time step for the
backward pass: B·K·T·N floats, gigabytes at N = 512 (algorithms.md §1.18.6). This Function keeps only its
R-dimensional input and recomputes the currents in backward, so training memory grows with B·K·T·R instead. The
N-dimension is processed in row chunks so that the (rows, N) intermediates stay in cache on a CPU.
"""

from __future__ import annotations

import torch

from nwb_dyn.models.activations import activation_and_slopes, apply_activation

# Rows of (rows, N) intermediates processed at once: 2^16 floats ≈ 256 KiB, small enough for a CPU's L2 cache.
_CHUNK_FLOATS = 1 << 16


def _row_chunks(rows: int, units: int) -> list[slice]:
    size = max(1, _CHUNK_FLOATS // max(units, 1))
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]


def _currents(latents: torch.Tensor, m: torch.Tensor, input_current: torch.Tensor | None) -> torch.Tensor:
    """x = z·mᵀ (+ c): latents (rows, R), input_current (rows, N) or None → (rows, N)."""
    if input_current is None:
        return latents @ m.T
    return torch.addmm(input_current, latents, m.T)


class _FusedLowRankTransition(torch.autograd.Function):
    @staticmethod
    def forward(ctx, latents, input_current, decay, m, n, h, activation):  # type: ignore[override]
        particles, batch, rank = latents.shape
        units = m.shape[0]
        flat = latents.reshape(-1, rank)
        current = None if input_current is None else input_current.expand(particles, batch, units).reshape(-1, units)
        chunks = _row_chunks(flat.shape[0], units)
        if len(chunks) == 1:
            rates = apply_activation(activation, _currents(flat, m, current), h)
            out = torch.addmm(flat * decay, rates, n.T)
        else:
            out = torch.empty_like(flat)
            for rows in chunks:
                x = _currents(flat[rows], m, None if current is None else current[rows])
                torch.addmm(flat[rows] * decay, apply_activation(activation, x, h), n.T, out=out[rows])
        ctx.activation = activation
        ctx.save_for_backward(latents, input_current, decay, m, n, h)
        return out.reshape(particles, batch, rank)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        latents, input_current, decay, m, n, h = ctx.saved_tensors
        particles, batch, rank = latents.shape
        units = m.shape[0]
        flat = latents.reshape(-1, rank)
        grad = grad_out.reshape(-1, rank)
        current = None if input_current is None else input_current.expand(particles, batch, units).reshape(-1, units)
        chunks = _row_chunks(flat.shape[0], units)
        if len(chunks) == 1 and input_current is None:
            # Small problems: the same algebra without chunk bookkeeping (Python overhead dominates here).
            rates, slope_x, slope_h = activation_and_slopes(ctx.activation, flat @ m.T, h)
            back = grad @ n
            delta = back * slope_x
            grad_h = -delta.sum(0) if slope_h is None else (back * slope_h).sum(0)
            grad_latents = torch.addmm(grad * decay, delta, m)
            grad_decay = (grad * flat).sum().reshape(decay.shape)
            return (grad_latents.reshape(particles, batch, rank), None, grad_decay, delta.T @ flat, grad.T @ rates,
                    grad_h, None)
        grad_latents = grad * decay
        grad_m = torch.zeros_like(m)
        grad_n = torch.zeros_like(n)
        grad_h = torch.zeros_like(h)
        grad_current = None if input_current is None else torch.empty(particles * batch, units, dtype=flat.dtype)
        for rows in chunks:
            x = _currents(flat[rows], m, None if current is None else current[rows])
            rates, slope_x, slope_h = activation_and_slopes(ctx.activation, x, h)
            back = grad[rows] @ n  # (rows, N): ∂L/∂φ
            delta = back * slope_x  # ∂L/∂x
            grad_latents[rows] += delta @ m
            grad_m.addmm_(delta.T, flat[rows])
            grad_n.addmm_(grad[rows].T, rates)
            # ∂φ/∂h = −∂φ/∂x except for the clipped ReLU, whose bias moves only its lower kink.
            grad_h += -delta.sum(0) if slope_h is None else (back * slope_h).sum(0)
            if grad_current is not None:
                grad_current[rows] = delta
        grad_decay = (grad * flat).sum().reshape(decay.shape)
        grad_input = None
        if grad_current is not None:
            grad_input = grad_current.reshape(particles, batch, units)
            grad_input = grad_input.sum(0, keepdim=True) if input_current.shape[0] == 1 else grad_input
            grad_input = grad_input.reshape(input_current.shape)
        return grad_latents.reshape(particles, batch, rank), grad_input, grad_decay, grad_m, grad_n, grad_h, None


def fused_transition_mean(
    latents: torch.Tensor,
    input_current: torch.Tensor | None,
    decay: torch.Tensor,
    m: torch.Tensor,
    n: torch.Tensor,
    h: torch.Tensor,
    activation: str,
) -> torch.Tensor:
    """F(z) = a·z + n·φ(m·z + c; h) for particles (K, B, R) → (K, B, R).

    input_current c: (1, B, N) input currents W_u·u shared by the K particles, or None; decay a: 0-dim tensor;
    m (N, R), n (R, N), h (N,). Gradients reach all of them; memory kept for backward is O(K·B·R).
    """
    return _FusedLowRankTransition.apply(latents, input_current, decay, m, n, h, activation)
