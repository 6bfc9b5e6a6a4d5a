"""The low-rank transition mean F(z) = a·z + n·φ(m·z + c; h) as one fused autograd operation.

A plain autograd graph keeps the N-dimensional currents and rates of every particle at every time step for the
backward pass: B·K·T·N floats, gigabytes at N = 512 (algorithms.md §1.18.6). This Function keeps only its
R-dimensional input and recomputes the currents in backward, so training memory grows with B·K·T·R instead. The
rows are processed in chunks so that the (rows, N) intermediates stay in cache on a CPU, and since the step is
memory-bound, the code keeps the number of passes over them small: the clipped ReLU is one clamp, and without
inputs the backward pass reads the slopes only through matrix products (see :func:`_backward_without_input`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from nwb_dyn.models.activations import activation_and_slopes, apply_activation, indicator_greater

# Rows of (rows, N) intermediates processed at once: 2^18 floats = 1 MiB, about a CPU's L2 cache (at N = 512,
# K = 256, B = 16 this measured ~10 % faster per step than 2^16 and 2^20).
_CHUNK_FLOATS = 1 << 18


class TransitionActivations(NamedTuple):
    """One transition's (rows, N) activations φ, ∂φ/∂x and ∂φ/∂h (None where it is −∂φ/∂x)."""

    rates: torch.Tensor
    slope_x: torch.Tensor
    slope_h: torch.Tensor | None


def _row_chunks(rows: int, units: int) -> list[slice]:
    size = max(1, _CHUNK_FLOATS // max(units, 1))
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]


def fits_one_chunk(rows: int, units: int) -> bool:
    """Whether (rows, N) intermediates fit one cache-sized chunk: below that, per-operation overhead sets the cost."""
    return rows * units <= _CHUNK_FLOATS


def _flat_current(input_current: torch.Tensor | None, particles: int, batch: int, units: int) -> torch.Tensor | None:
    """Input currents (1 or K, B, N) spread over the K·B particle rows → (K·B, N), or None."""
    return None if input_current is None else input_current.expand(particles, batch, units).reshape(-1, units)


def _input_gradient(delta: torch.Tensor, input_current: torch.Tensor, particles: int, batch: int) -> torch.Tensor:
    """∂L/∂(input current) shaped like ``input_current`` from the rows' errors δ (K·B, N): summed over particles
    where the current was shared by them."""
    grad_input = delta.reshape(particles, batch, -1)
    grad_input = grad_input.sum(0, keepdim=True) if input_current.shape[0] == 1 else grad_input
    return grad_input.reshape(input_current.shape)


def _activations(
    activation: str, flat: torch.Tensor, m: torch.Tensor, h: torch.Tensor, current: torch.Tensor | None
) -> TransitionActivations:
    """The rows' φ, ∂φ/∂x and ∂φ/∂h at x = z·mᵀ (+ c), for latents (rows, R) and currents (rows, N) or None."""
    return TransitionActivations(*activation_and_slopes(activation, _currents(flat, m, current), h))


def _currents(latents: torch.Tensor, m: torch.Tensor, input_current: torch.Tensor | None) -> torch.Tensor:
    """x = z·mᵀ (+ c): latents (rows, R), input_current (rows, N) or None → (rows, N)."""
    if input_current is None:
        return latents @ m.T
    return torch.addmm(input_current, latents, m.T)


def transition_forward(
    latents: torch.Tensor, input_current: torch.Tensor | None, decay: torch.Tensor, m: torch.Tensor, n: torch.Tensor,
    h: torch.Tensor, activation: str,
) -> torch.Tensor:
    """F(z) (K, B, R) without autograd bookkeeping; arguments as for :func:`fused_transition_mean`."""
    particles, batch, rank = latents.shape
    units = m.shape[0]
    flat = latents.reshape(-1, rank)
    current = _flat_current(input_current, particles, batch, units)
    # Clipped ReLU: φ = sign·(clamp(x, lower, upper) − lower), one pass over (rows, N) instead of four, with the
    # sign and the shift folded into the (R, N) weights and an (R,) offset.
    form = _clipped_relu_form(h) if activation == "clipped_relu" else None
    readout = n if form is None else n * form.sign
    chunks = []
    for rows in _row_chunks(flat.shape[0], units) if not fits_one_chunk(flat.shape[0], units) else [slice(None)]:
        x = _currents(flat[rows], m, None if current is None else current[rows])
        values = apply_activation(activation, x, h) if form is None else x.clamp_(form.lower, form.upper)
        # (R, rows) = readout @ valuesᵀ: the (rows, N) factor on the right is the fast layout for CPU BLAS.
        chunks.append(torch.addmm(flat[rows].T * decay, readout, values.T))
    out = (chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)).T
    if form is not None:
        out = out - n @ (form.sign * form.lower)
    return out.reshape(particles, batch, rank)


def transition_with_activations(
    latents: torch.Tensor, input_current: torch.Tensor | None, decay: torch.Tensor, m: torch.Tensor, n: torch.Tensor,
    h: torch.Tensor, activation: str,
) -> tuple[torch.Tensor, TransitionActivations]:
    """F(z) (K, B, R) and the activations behind it (rows = K·B), for steps that need no row chunks
    (:func:`fits_one_chunk`). Kept, they spare :func:`backward_from_activations` recomputing the currents."""
    particles, batch, rank = latents.shape
    units = m.shape[0]
    flat = latents.reshape(-1, rank)
    activations = _activations(activation, flat, m, h, _flat_current(input_current, particles, batch, units))
    out = torch.addmm(flat.T * decay, n, activations.rates.T).T  # (R, rows): the fast layout (see transition_forward)
    return out.reshape(particles, batch, rank), activations


class TransitionGradients(NamedTuple):
    """Gradients of a loss through F(z): latents (K, B, R), input current (like the input, or None), decay (or None
    when not asked for), m, n, h."""

    latents: torch.Tensor
    input_current: torch.Tensor | None
    decay: torch.Tensor | None
    m: torch.Tensor
    n: torch.Tensor
    h: torch.Tensor


def transition_backward(
    latents: torch.Tensor, input_current: torch.Tensor | None, decay: torch.Tensor, m: torch.Tensor, n: torch.Tensor,
    h: torch.Tensor, activation: str, grad_out: torch.Tensor, decay_gradient: bool = True,
) -> TransitionGradients:
    """Gradients through F(z) given ∂L/∂F (K, B, R), recomputing the N-dimensional currents in row chunks.

    decay_gradient: False leaves ∂L/∂a as None (a sweep sums Σ g·z over all steps at once instead).
    """
    particles, batch, rank = latents.shape
    flat = latents.reshape(-1, rank)
    grad = grad_out.reshape(-1, rank)
    grad_decay = (grad * flat).sum().reshape(decay.shape) if decay_gradient else None
    units = m.shape[0]
    if input_current is None and not fits_one_chunk(flat.shape[0], units):
        grad_latents, grad_m, grad_n, grad_h = _backward_without_input(activation, flat, grad, decay, m, n, h)
        return TransitionGradients(grad_latents.reshape(particles, batch, rank), None, grad_decay, grad_m, grad_n, grad_h)
    # Inputs, or few enough rows that per-operation overhead rather than memory traffic sets the cost: form the
    # per-unit error δ = (g·n) ⊙ φ'(x) explicitly, which takes the fewest operations.
    current = _flat_current(input_current, particles, batch, units)
    parts = [
        _error_backward(activation, flat[rows], grad[rows], decay, m, n, h, None if current is None else current[rows])
        for rows in _row_chunks(flat.shape[0], units)
    ]
    if len(parts) == 1:
        grad_latents, grad_m, grad_n, grad_h, delta = parts[0]
    else:
        latents_parts, m_parts, n_parts, h_parts, deltas = zip(*parts)
        grad_latents, delta = torch.cat(latents_parts), torch.cat(deltas)
        grad_m, grad_n, grad_h = sum(m_parts), sum(n_parts), sum(h_parts)
    grad_latents = grad_latents.reshape(particles, batch, rank)
    if input_current is None:
        return TransitionGradients(grad_latents, None, grad_decay, grad_m, grad_n, grad_h)
    grad_input = _input_gradient(delta, input_current, particles, batch)
    return TransitionGradients(grad_latents, grad_input, grad_decay, grad_m, grad_n, grad_h)


def backward_from_activations(
    latents: torch.Tensor, input_current: torch.Tensor | None, decay: torch.Tensor, m: torch.Tensor, n: torch.Tensor,
    activations: TransitionActivations, grad_out: torch.Tensor,
) -> TransitionGradients:
    """:func:`transition_backward` (without ∂L/∂a) from the activations :func:`transition_with_activations` kept."""
    particles, batch, rank = latents.shape
    grad_latents, grad_m, grad_n, grad_h, delta = _gradients_from_activations(
        latents.reshape(-1, rank), grad_out.reshape(-1, rank), decay, m, n, activations
    )
    grad_input = None if input_current is None else _input_gradient(delta, input_current, particles, batch)
    return TransitionGradients(grad_latents.reshape(particles, batch, rank), grad_input, None, grad_m, grad_n, grad_h)


class _FusedLowRankTransition(torch.autograd.Function):
    @staticmethod
    def forward(ctx, latents, input_current, decay, m, n, h, activation):  # type: ignore[override]
        ctx.activation = activation
        ctx.save_for_backward(latents, input_current, decay, m, n, h)
        return transition_forward(latents, input_current, decay, m, n, h, activation)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        grads = transition_backward(*ctx.saved_tensors, ctx.activation, grad_out)
        return (*grads, None)


def _error_backward(
    activation: str, flat: torch.Tensor, grad: torch.Tensor, decay: torch.Tensor, m: torch.Tensor, n: torch.Tensor,
    h: torch.Tensor, current: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients for latents (rows, R), m, n, h and the input current (rows, N: the error δ) of one row chunk.

    flat: latents (rows, R); grad: ∂L/∂F (rows, R); current: input currents (rows, N) or None.
    """
    return _gradients_from_activations(flat, grad, decay, m, n, _activations(activation, flat, m, h, current))


def _gradients_from_activations(
    flat: torch.Tensor, grad: torch.Tensor, decay: torch.Tensor, m: torch.Tensor, n: torch.Tensor,
    activations: TransitionActivations,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_error_backward` given the rows' activations instead of recomputing them."""
    back = grad @ n  # (rows, N): ∂L/∂φ
    delta = back * activations.slope_x  # ∂L/∂x
    # Products are written so that the (rows, N) operand is the right factor, transposed for the first: CPU BLAS
    # runs (rows, N) @ (N, R) and (N, rows) @ (rows, R) several times slower than these forms.
    grad_latents = torch.addmm(grad.T * decay, m.T, delta.T).T
    grad_m = (flat.T @ delta).T
    grad_n = grad.T @ activations.rates
    # ∂φ/∂h = −∂φ/∂x except for the clipped ReLU, whose bias moves only its lower kink.
    grad_h = -delta.sum(0) if activations.slope_h is None else (back * activations.slope_h).sum(0)
    return grad_latents, grad_m, grad_n, grad_h, delta


def _backward_without_input(
    activation: str, flat: torch.Tensor, grad: torch.Tensor, decay: torch.Tensor, m: torch.Tensor,
    n: torch.Tensor, h: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients for latents, m, n and h of F(z) = a·z + n·φ(z·mᵀ; h), flat (rows, R), grad ∂L/∂F (rows, R).

    The per-unit error δ = (g·n) ⊙ φ'(x) is never formed: with R ≪ N every gradient is a small contraction of the
    (rows, N) slope matrix, ∂L/∂m_iq = Σ_r n_ri Σ_b g_br z_bq φ'_bi and ∂L/∂z_bq = Σ_r g_br Σ_i φ'_bi n_ri m_iq, so
    each N-wide intermediate is read once by a matrix product instead of written and re-read by elementwise passes
    (the step is memory-bound: B·K·N activations per time step).
    """
    rows, rank = flat.shape
    units = m.shape[0]
    clipped = activation == "clipped_relu"
    # Clipped ReLU: φ = sign·(c − lower) and φ' = sign·1[c = x] with c = clamp(x, lower, upper); the matrix products
    # take c and the 0/1 indicator, and the per-unit sign and shift are applied to their (R, N) results.
    form = _clipped_relu_form(h) if clipped else None
    sign = form.sign if clipped else torch.ones_like(h)
    # unit_weights[r·R + q, i] = sign_i·n_ri·m_iq: maps the slopes (rows, N) to Σ_i φ'_bi n_ri m_iq. It is the left
    # factor of a (R², N) @ (N, rows) product because (rows, N) @ (N, R²) is several times slower in CPU BLAS.
    unit_weights = (n * sign).unsqueeze(1) * m.T.unsqueeze(0)  # (r, q, N)
    unit_weights = unit_weights.reshape(rank * rank, units)
    # [z, 1]: the column of ones makes the same product also yield Σ_b g_br φ'_bi, which ∂L/∂h needs.
    augmented = torch.cat([flat, flat.new_ones(rows, 1)], dim=1)
    grad_latents = grad * decay
    grad_n = torch.zeros_like(n)
    error_slopes = flat.new_zeros(rank, rank + 1, units)  # Σ_b g_br [z, 1]_bq |φ'_bi|
    bias_slopes = torch.zeros_like(n) if clipped else None  # Σ_b g_br ∂φ_bi/∂h_i
    chunks = _row_chunks(rows, units)
    indicator = flat.new_empty(chunks[0].stop - chunks[0].start, units) if clipped else None
    for chunk in chunks:
        x = flat[chunk] @ m.T
        if form is not None:
            slope_x = indicator[: x.shape[0]]
            bias_slopes.addmm_(grad[chunk].T, indicator_greater(x, -h, out=slope_x))
            values = torch.clamp(x, form.lower, form.upper)
            torch.eq(values, x, out=slope_x)
        else:
            values, slope_x, _ = activation_and_slopes(activation, x, h)
        grad_chunk = grad[chunk]
        grad_n.addmm_(grad_chunk.T, values)
        outer = (grad_chunk.unsqueeze(2) * augmented[chunk].unsqueeze(1)).reshape(-1, rank * (rank + 1))
        error_slopes += (outer.T @ slope_x).reshape(rank, rank + 1, units)
        projected = (unit_weights @ slope_x.T).reshape(rank, rank, -1)  # (r, q, rows)
        grad_latents[chunk] += (projected * grad_chunk.T.unsqueeze(1)).sum(0).T
    if form is not None:
        grad_n = sign * (grad_n - grad.sum(0).unsqueeze(1) * form.lower)
        error_slopes = error_slopes * sign
    grad_m = torch.einsum("rqi,ri->iq", error_slopes[:, :rank], n)
    # ∂φ/∂h = −∂φ/∂x except for the clipped ReLU, whose bias moves only its lower kink.
    grad_h = -(error_slopes[:, rank] * n).sum(0) if bias_slopes is None else (bias_slopes * n).sum(0)
    return grad_latents, grad_m, grad_n, grad_h


class _ClippedReluForm(NamedTuple):
    """max(x + h, 0) − max(x, 0) = sign·(clamp(x, lower, upper) − lower) per unit; each (N,)."""

    lower: torch.Tensor
    upper: torch.Tensor
    sign: torch.Tensor


def _clipped_relu_form(h: torch.Tensor) -> _ClippedReluForm:
    """h > 0: clamp(x, −h, 0) + h; h < 0: −clamp(x, 0, −h); h = 0: φ ≡ 0 (sign 0)."""
    zero = torch.zeros_like(h)
    return _ClippedReluForm(torch.minimum(-h, zero), torch.maximum(-h, zero), torch.sign(h))


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
