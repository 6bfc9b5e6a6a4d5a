"""Fixed points and slow points of any smooth latent map, by minimising the speed ½‖F(z) − z‖² from many starts.

For maps without the piecewise-linear structure that :mod:`nwb_dyn.analysis.fixed_points` enumerates exactly
(tanh low-rank RNNs, the per-state RNNs of a switching model) fixed points are found numerically, as in Sussillo &
Barak (2013): start from points the dynamics visit (posterior latents), run a batched Levenberg–Marquardt descent on
the residual F(z) − z, keep the minima whose speed is zero to tolerance as fixed points and report minima with a
small but non-zero speed separately as slow points. Stability comes from the eigenvalues of the map's Jacobian.
The map may be NumPy (Jacobian by central finite differences, or a closed-form Jacobian the caller supplies) or
torch (Jacobian by autograd; torch is imported only then). A time limit ends the descent early: points that have not
converged by then are neither fixed nor slow unless their speed already says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from nwb_dyn.errors import ConfigError

JacobianMethod = Literal["finite_difference", "autograd"]

_DAMPING_START = 1e-3
_DAMPING_DOWN = 1.0 / 3.0
_DAMPING_UP = 4.0
_DAMPING_MAX = 1e12


@dataclass(frozen=True)
class NumericFixedPoints:
    """What the numeric search found, for a discrete-time map z ↦ F(z).

    z: (P, R) distinct fixed points (speed at most ``fixed_tolerance``); eigenvalues: (P, R) of the map's Jacobian
    there, sorted; stable: (P,) spectral radius below 1; speed: (P,) ½‖F(z) − z‖².
    slow_z: (S, R) distinct slow points (local minima of the speed between the two tolerances), with slow_speed
    (S,) and slow_eigenvalues (S, R). starts: how many start points were descended from; timed_out: the descent was
    stopped by its time limit before every point had converged.
    """

    z: np.ndarray
    eigenvalues: np.ndarray
    stable: np.ndarray
    speed: np.ndarray
    slow_z: np.ndarray
    slow_speed: np.ndarray
    slow_eigenvalues: np.ndarray
    starts: int
    timed_out: bool = False


def find_fixed_points_numeric(
    latent_map: Callable[[Any], Any],
    starts: np.ndarray,
    jacobian: JacobianMethod | Callable[[np.ndarray], np.ndarray] = "finite_difference",
    fixed_tolerance: float = 1e-14,
    slow_tolerance: float = 1e-4,
    max_iterations: int = 200,
    distinct_tolerance: float = 1e-5,
    max_starts: int | None = 2000,
    time_limit_s: float | None = None,
) -> NumericFixedPoints:
    """Minimise ½‖F(z) − z‖² from every start; return distinct fixed points and slow points with their stability.

    latent_map F: (P, R) -> (P, R), rows independent; it receives NumPy arrays for ``"finite_difference"`` and
    float64 CPU torch tensors for ``"autograd"`` (call ``.double()`` on a float32 module first) and may return
    either. ``jacobian`` may also be a NumPy function z (P, R) -> ∂F/∂z (P, R, R) in closed form (exact and cheaper
    than 2R extra map evaluations). starts: (P, R) or (B, T, R) latents (e.g. posterior means) to descend from; more than ``max_starts``
    are thinned to that many, evenly spaced in their flattened order (None keeps all). Points are fixed when
    their final speed is at most ``fixed_tolerance`` and slow when it lies in (fixed_tolerance, slow_tolerance];
    points closer than ``distinct_tolerance`` (relative to 1 + ‖z‖) are merged. Returns a
    :class:`NumericFixedPoints`. ``time_limit_s`` (wall seconds, None for none) ends the descent early.
    """
    points = np.asarray(starts, dtype=float)
    if points.ndim < 2 or points.shape[-1] == 0 or points.size == 0:
        raise ConfigError(
            f"starts has shape {points.shape}; pass start points as (P, R) or latents as (B, T, R)"
        )
    points = points.reshape(-1, points.shape[-1])
    if max_starts is not None and points.shape[0] > max_starts:
        points = points[np.unique(np.linspace(0, points.shape[0] - 1, max_starts).round().astype(int))]
    if not np.all(np.isfinite(points)):
        raise ConfigError(
            "starts contain NaN or inf; pass finite latents to start the fixed-point search from"
        )
    if not callable(jacobian) and jacobian not in ("finite_difference", "autograd"):
        raise ConfigError(
            f"jacobian={jacobian!r}; use 'finite_difference' (NumPy maps), 'autograd' (torch maps) or a function"
        )
    if not 0.0 <= fixed_tolerance < slow_tolerance:
        raise ConfigError(
            f"need 0 ≤ fixed_tolerance < slow_tolerance, got {fixed_tolerance!r} and {slow_tolerance!r}"
        )
    evaluate = _residual_and_jacobian(latent_map, jacobian)
    deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s
    final, speed, timed_out = _levenberg_marquardt(evaluate, points, max_iterations, fixed_tolerance, deadline)
    fixed = speed <= fixed_tolerance
    slow = ~fixed & (speed <= slow_tolerance)
    fixed_z, fixed_speed = _merge(final[fixed], speed[fixed], distinct_tolerance)
    slow_z, slow_speed = _merge(final[slow], speed[slow], distinct_tolerance)
    fixed_eigenvalues = _eigenvalues(evaluate, fixed_z)
    return NumericFixedPoints(
        z=fixed_z,
        eigenvalues=fixed_eigenvalues,
        stable=np.all(np.abs(fixed_eigenvalues) < 1.0, axis=1),
        speed=fixed_speed,
        slow_z=slow_z,
        slow_speed=slow_speed,
        slow_eigenvalues=_eigenvalues(evaluate, slow_z),
        starts=points.shape[0],
        timed_out=timed_out,
    )


Evaluate = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _residual_and_jacobian(
    latent_map: Callable[[Any], Any], method: JacobianMethod | Callable[[np.ndarray], np.ndarray]
) -> Evaluate:
    """A function z (P, R) -> (F(z) − z (P, R), ∂F/∂z (P, R, R)) for the chosen differentiation."""
    if callable(method):
        return lambda z: (_as_array(latent_map(z), z.shape) - z, _as_array(method(z), z.shape + z.shape[1:]))
    if method == "autograd":
        return lambda z: _autograd(latent_map, z)
    return lambda z: _finite_difference(latent_map, z)


def _as_array(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=float)
    if array.shape != shape:
        raise ConfigError(
            f"the latent map returned shape {array.shape} for input {shape}; it must map (P, R) to (P, R)"
        )
    return array


def _finite_difference(latent_map: Callable[[Any], Any], z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences, one coordinate at a time, all points at once; step ∝ ε^(1/3) (1 + |z_r|)."""
    value = _as_array(latent_map(z), z.shape)
    rank = z.shape[1]
    jacobian = np.empty(z.shape + (rank,))
    for coordinate in range(rank):
        step = 6e-6 * (1.0 + np.abs(z[:, coordinate]))
        shifted = np.repeat(z[None], 2, axis=0)
        shifted[0, :, coordinate] += step
        shifted[1, :, coordinate] -= step
        ahead, behind = (_as_array(latent_map(s), z.shape) for s in shifted)
        jacobian[:, :, coordinate] = (ahead - behind) / (2.0 * step[:, None])
    return value - z, jacobian


def _autograd(latent_map: Callable[[Any], Any], z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact Jacobian rows by one backward pass per output coordinate (rows of F are independent)."""
    import torch

    points = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    value = latent_map(points)
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != z.shape:
        raise ConfigError(
            f"with jacobian='autograd' the latent map must return a torch tensor of shape {z.shape}"
        )
    rows = [
        torch.autograd.grad(value[:, output].sum(), points, retain_graph=output < z.shape[1] - 1)[0]
        for output in range(z.shape[1])
    ]
    jacobian = torch.stack(rows, dim=1).detach().numpy()
    return value.detach().numpy() - z, jacobian


def _levenberg_marquardt(
    evaluate: Evaluate, z: np.ndarray, max_iterations: int, fixed_tolerance: float, deadline: float | None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Batched Levenberg–Marquardt on g(z) = F(z) − z with one damping per point; returns z and ½‖g‖², both final,
    and whether the ``deadline`` (a ``time.perf_counter()`` value, or None) stopped it while points still moved.

    A point stops when its speed reaches ``fixed_tolerance``/10 or its damping saturates (a non-zero local minimum).
    """
    z = z.copy()
    residual, jacobian = evaluate(z)
    speed = 0.5 * np.sum(residual**2, axis=1)
    damping = np.full(z.shape[0], _DAMPING_START)
    identity = np.eye(z.shape[1])
    for _ in range(max_iterations):
        moving = np.flatnonzero((speed > 0.1 * fixed_tolerance) & (damping < _DAMPING_MAX))
        if moving.size == 0:
            break
        if deadline is not None and time.perf_counter() > deadline:
            return z, speed, True
        slope = jacobian[moving] - identity  # ∂g/∂z
        slope_t = slope.transpose(0, 2, 1)
        normal = slope_t @ slope  # batched BLAS: einsum's loop took most of the time at R = 36
        scale = np.trace(normal, axis1=1, axis2=2)[:, None, None] / z.shape[1] + 1e-30
        gradient = (slope_t @ residual[moving][..., None])[..., 0]
        step = -np.linalg.solve(normal + damping[moving, None, None] * scale * identity, gradient[..., None])[
            ..., 0
        ]
        trial = z[moving] + step
        trial_residual, trial_jacobian = evaluate(trial)
        trial_speed = 0.5 * np.sum(trial_residual**2, axis=1)
        better = trial_speed < speed[moving]
        accepted = moving[better]
        z[accepted], residual[accepted], jacobian[accepted] = (
            trial[better],
            trial_residual[better],
            trial_jacobian[better],
        )
        speed[accepted] = trial_speed[better]
        damping[accepted] *= _DAMPING_DOWN
        damping[moving[~better]] *= _DAMPING_UP
    return z, speed, False


def _merge(z: np.ndarray, speed: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep one point (the slowest) of every group closer than ``tolerance`` (1 + ‖z‖); rows sorted by z."""
    order = np.argsort(speed, kind="stable")
    kept = np.empty(order.size, dtype=np.intp)
    count = 0
    for index in order:
        radius = tolerance * (1.0 + np.linalg.norm(z[index]))
        if count == 0 or np.min(np.linalg.norm(z[kept[:count]] - z[index], axis=1)) > radius:
            kept[count] = index
            count += 1
    chosen = kept[:count]
    chosen = chosen[np.lexsort(z[chosen].T[::-1])] if chosen.size else chosen
    return z[chosen], speed[chosen]


def _eigenvalues(evaluate: Evaluate, z: np.ndarray) -> np.ndarray:
    """(P, R) sorted eigenvalues of the map's Jacobian at z (P, R)."""
    if z.shape[0] == 0:
        return np.zeros(z.shape, dtype=complex)
    return np.sort_complex(np.linalg.eigvals(evaluate(z)[1]).astype(complex))
