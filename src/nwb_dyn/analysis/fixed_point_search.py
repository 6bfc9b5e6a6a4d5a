"""Fixed points of a fitted low-rank latent map within a time budget: exact when it fits, numeric otherwise.

The exact enumeration (:mod:`nwb_dyn.analysis.fixed_points`) finds every fixed point of a piecewise-linear map, but
its cost grows like N^R: seconds at rank 3 and a few hundred units, centuries at rank 5 and N = 512. So ``auto``
predicts its wall time first (:func:`~nwb_dyn.analysis.fixed_points.enumeration_cost`) and runs it only when the
prediction fits the budget, under a hard limit of :data:`EXACT_LIMIT_FACTOR` × budget in case the machine is slower
than the prediction; otherwise, and for smooth activations, it searches numerically from many starts (the
Levenberg–Marquardt finder of :mod:`nwb_dyn.analysis.numeric_fixed_points`, with the map's closed-form Jacobian),
itself stopped at the budget. A piecewise-linear point found numerically is then solved exactly in its region.
The result says which method ran, under what budget, and how many candidates (regions or starts) it examined.
Pure NumPy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from nwb_dyn.analysis.fixed_points import (
    EnumerationTimeLimit,
    discrete_time_fixed_points,
    enumeration_cost,
)
from nwb_dyn.analysis.numeric_fixed_points import find_fixed_points_numeric
from nwb_dyn.errors import ConfigError

FixedPointMethod = Literal["auto", "exact", "numeric", "off"]
FIXED_POINT_METHODS: tuple[str, ...] = ("auto", "exact", "numeric", "off")
PIECEWISE_LINEAR = ("relu", "clipped_relu")
#: Default wall-time budget of the fixed-point stage after a fit, in seconds.
DEFAULT_BUDGET_S = 60.0
#: ``auto`` abandons an exact walk predicted to fit the budget once it has run this many budgets.
EXACT_LIMIT_FACTOR = 1.5
#: Starts of the numeric search: half taken evenly from the data's latents, half drawn around them.
DEFAULT_NUMERIC_STARTS = 1000
# Relative slack for a polished point to count as inside its region (points on a wall are found from both sides).
_INSIDE_RTOL = 1e-9


@dataclass(frozen=True)
class FixedPointSearch:
    """Fixed points of the map ``z ↦ a z + n φ(m z + c; h)`` and how they were found.

    z: (P, R) fixed points; slopes: (P, N) int8 activation slope of every unit there (names the linear region;
    None for smooth φ); eigenvalues: (P, R) of the map's Jacobian, sorted (discrete reading); stable: (P,) all
    |λ| < 1. method: "exact" or "numeric"; budget_s: the time budget it ran under (None: none); candidates_examined:
    linear systems solved (exact: one per region) or start points descended from (numeric); estimated_exact_s: the
    exact walk's predicted wall time (None when not predicted); elapsed_s: wall time of the whole search; reason:
    why this method ran.
    """

    z: np.ndarray
    slopes: np.ndarray | None
    eigenvalues: np.ndarray
    stable: np.ndarray
    method: str
    budget_s: float | None
    candidates_examined: int
    estimated_exact_s: float | None
    elapsed_s: float
    reason: str

    def record(self) -> dict[str, Any]:
        """JSON-safe summary for the output file: method, budget, candidates, prediction, time, reason, count."""
        return {
            "method": self.method,
            "budget_s": self.budget_s,
            "candidates_examined": int(self.candidates_examined),
            "estimated_exact_s": None if self.estimated_exact_s is None else round(self.estimated_exact_s, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "num_fixed_points": int(self.z.shape[0]),
            "reason": self.reason,
        }


def search_fixed_points(
    decay: float,
    n: np.ndarray,
    m: np.ndarray,
    bias: np.ndarray,
    activation: str,
    starts: np.ndarray,
    method: FixedPointMethod = "auto",
    budget_s: float = DEFAULT_BUDGET_S,
    input_current: np.ndarray | None = None,
    num_starts: int = DEFAULT_NUMERIC_STARTS,
    seed: int = 0,
) -> FixedPointSearch:
    """Fixed points of the fitted latent map, exactly when the enumeration fits ``budget_s`` and numerically if not.

    decay a, n (R, N) scaled output weights, m (N, R), bias h (N,), input_current c (N,) or None, in the model
    convention of :func:`~nwb_dyn.analysis.fixed_points.discrete_time_fixed_points`; activation: any of the
    model's (relu, clipped_relu, tanh, identity). starts: (B, T, R) or (P, R) latents the data visit (posterior
    means), where the numeric search starts. method: "auto" (exact if predicted to fit the budget, else numeric),
    "exact" (always, no time limit: it may take very long), "numeric" (always; stopped at the budget).
    """
    if method not in ("auto", "exact", "numeric"):
        raise ConfigError(
            f"fixed-point method {method!r}: use one of auto, exact or numeric ('off' computes none)"
        )
    if not budget_s > 0:
        raise ConfigError(f"fixed-point budget {budget_s!r} s must be > 0")
    piecewise = activation in PIECEWISE_LINEAR
    if method == "exact" and not piecewise:
        raise ConfigError(
            f"exact fixed points need a piecewise-linear activation (relu or clipped_relu), not '{activation}'; "
            "use --fixed-points numeric or auto"
        )
    started = time.perf_counter()
    arrays = [np.asarray(x, dtype=float) for x in (n, m, bias)]
    if method == "exact":
        return _exact(decay, *arrays, input_current, activation, None, None, started, "requested")
    estimate, reason = None, f"'{activation}' is not piecewise linear"
    if piecewise and method == "auto":
        cost = enumeration_cost(decay, *arrays, input_current, activation, budget_s=budget_s)
        estimate = cost.seconds
        if cost.seconds <= budget_s:
            try:
                return _exact(
                    decay,
                    *arrays,
                    input_current,
                    activation,
                    budget_s,
                    estimate,
                    started,
                    f"predicted {cost.seconds:.3g} s ≤ budget",
                )
            except EnumerationTimeLimit as stopped:
                reason = (
                    f"exact walk stopped at {stopped.time_limit_s:.3g} s (predicted {cost.seconds:.3g} s)"
                )
        else:
            reason = f"exact walk predicted {cost.seconds:.3g} s > budget ({cost.regions:.3g} regions)"
    elif method == "numeric":
        reason = "requested"
    # the descent gets what the prediction left of the budget, less a fifth for merging, polishing and eigenvalues
    remaining_s = 0.8 * max(0.1 * budget_s, budget_s - (time.perf_counter() - started))
    return _numeric(
        decay,
        *arrays,
        input_current,
        activation,
        starts,
        budget_s,
        remaining_s,
        estimate,
        started,
        reason,
        num_starts,
        seed,
    )


def _exact(
    decay: float,
    n: np.ndarray,
    m: np.ndarray,
    bias: np.ndarray,
    input_current: np.ndarray | None,
    activation: str,
    budget_s: float | None,
    estimate_s: float | None,
    started: float,
    reason: str,
) -> FixedPointSearch:
    limit = None if budget_s is None else EXACT_LIMIT_FACTOR * budget_s
    found = discrete_time_fixed_points(decay, n, m, bias, input_current, activation, time_limit_s=limit)
    return FixedPointSearch(
        z=found.z,
        slopes=found.slopes.astype(np.int8),
        eigenvalues=found.discrete_eigenvalues,
        stable=found.discrete_stable,
        method="exact",
        budget_s=budget_s,
        candidates_examined=found.regions_visited,
        estimated_exact_s=estimate_s,
        elapsed_s=time.perf_counter() - started,
        reason=reason,
    )


def _numeric(
    decay: float,
    n: np.ndarray,
    m: np.ndarray,
    bias: np.ndarray,
    input_current: np.ndarray | None,
    activation: str,
    latents: np.ndarray,
    budget_s: float,
    time_limit_s: float,
    estimate_s: float | None,
    started: float,
    reason: str,
    num_starts: int,
    seed: int,
) -> FixedPointSearch:
    latent_map = _LatentMap(decay, n, m, bias, input_current, activation)
    starts = numeric_starts(latents, num_starts, seed)
    found = find_fixed_points_numeric(
        latent_map, starts, jacobian=latent_map.jacobian, max_starts=None, time_limit_s=time_limit_s
    )
    z = found.z
    if activation in PIECEWISE_LINEAR and z.shape[0]:
        z = _distinct(latent_map.polish(z))
    eigenvalues = (
        np.sort_complex(np.linalg.eigvals(latent_map.jacobian(z)).astype(complex))
        if z.shape[0]
        else np.zeros(z.shape, dtype=complex)
    )
    if found.timed_out:
        reason += f"; numeric search stopped at its {time_limit_s:.3g} s limit"
    return FixedPointSearch(
        z=z,
        slopes=latent_map.slopes(z).astype(np.int8) if activation in PIECEWISE_LINEAR else None,
        eigenvalues=eigenvalues,
        stable=np.all(np.abs(eigenvalues) < 1.0, axis=1),
        method="numeric",
        budget_s=budget_s,
        candidates_examined=found.starts,
        estimated_exact_s=estimate_s,
        elapsed_s=time.perf_counter() - started,
        reason=reason,
    )


def numeric_starts(latents: np.ndarray, count: int, seed: int) -> np.ndarray:
    """(P ≤ count, R) start points: half evenly spaced through the flattened latents (B, T, R) or (P, R), half drawn
    from a Gaussian with their mean and twice their spread (fixed points the data only pass near)."""
    points = np.asarray(latents, dtype=float)
    if points.ndim < 2 or points.shape[-1] == 0 or points.size == 0:
        raise ConfigError(
            f"latents of shape {points.shape}: need (B, T, R) or (P, R) to start the search from"
        )
    points = points.reshape(-1, points.shape[-1])
    points = points[np.all(np.isfinite(points), axis=1)]
    if points.shape[0] == 0:
        raise ConfigError(
            "every latent is NaN or inf; the fixed-point search needs finite latents to start from"
        )
    visited = points[np.unique(np.linspace(0, points.shape[0] - 1, max(1, count // 2)).round().astype(int))]
    rng = np.random.default_rng(seed)
    covariance = np.cov(points.T, ddof=0).reshape(points.shape[1], points.shape[1])
    spread = np.linalg.cholesky(covariance + 1e-6 * (1.0 + np.trace(covariance)) * np.eye(points.shape[1]))
    drawn = (
        points.mean(axis=0)
        + 2.0 * rng.standard_normal((count - visited.shape[0], points.shape[1])) @ spread.T
    )
    return np.concatenate([visited, drawn])


class _LatentMap:
    """F(z) = a z + n φ(m z + c; h) on (P, R) NumPy arrays, its closed-form Jacobian and, for piecewise-linear φ,
    an exact solve within a point's linear region."""

    def __init__(
        self,
        decay: float,
        n: np.ndarray,
        m: np.ndarray,
        bias: np.ndarray,
        input_current: np.ndarray | None,
        activation: str,
    ) -> None:
        self.decay, self.n, self.m, self.bias, self.activation = float(decay), n, m, bias, activation
        self.current = (
            np.zeros(m.shape[0]) if input_current is None else np.asarray(input_current, dtype=float)
        )
        rank = m.shape[1]
        # outer[i] = n[:, i] m[i]ᵀ flattened (N, R²): Σ_i φ'_i outer[i] is one GEMM for all points
        self.outer = np.einsum("ri,is->irs", n, m).reshape(m.shape[0], rank * rank)

    def currents(self, z: np.ndarray) -> np.ndarray:
        """(P, N) m z + c."""
        return z @ self.m.T + self.current

    def phi(self, x: np.ndarray) -> np.ndarray:
        h = self.bias
        if self.activation == "relu":
            return np.maximum(x - h, 0.0)
        if self.activation == "clipped_relu":
            return np.maximum(x + h, 0.0) - np.maximum(x, 0.0)
        if self.activation == "tanh":
            return np.tanh(x - h)
        return x - h

    def phi_slope(self, x: np.ndarray) -> np.ndarray:
        h = self.bias
        if self.activation == "relu":
            return (x > h).astype(float)
        if self.activation == "clipped_relu":
            return (x > -h).astype(float) - (x > 0.0).astype(float)
        if self.activation == "tanh":
            return 1.0 - np.tanh(x - h) ** 2
        return np.ones_like(x)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.decay * z + self.phi(self.currents(z)) @ self.n.T

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        """(P, R, R) a I + n diag(φ'(m z + c)) m."""
        rank = self.m.shape[1]
        linear = (self.phi_slope(self.currents(z)) @ self.outer).reshape(-1, rank, rank)
        return linear + self.decay * np.eye(rank)

    def slopes(self, z: np.ndarray) -> np.ndarray:
        """(P, N) φ' at z (−1, 0 or 1 for piecewise-linear φ)."""
        return self.phi_slope(self.currents(z))

    def polish(self, z: np.ndarray) -> np.ndarray:
        """Solve each point's region exactly: φ = s x + o there, so ((1 − a) I − n diag(s) m) z = n (s c + o).

        Keeps the exact solution where it lies in the closure of the same region (to a relative slack), the point as
        found elsewhere.
        """
        x = self.currents(z)
        slope = self.phi_slope(x)
        offset = self.phi(x) - slope * x
        rank = self.m.shape[1]
        matrix = (1.0 - self.decay) * np.eye(rank) - (slope @ self.outer).reshape(-1, rank, rank)
        rhs = (slope * self.current + offset) @ self.n.T
        solvable = np.abs(np.linalg.det(matrix)) > 1e-12 * np.prod(np.linalg.norm(matrix, axis=2), axis=1)
        polished = z.copy()
        if np.any(solvable):
            exact = np.linalg.solve(matrix[solvable], rhs[solvable][..., None])[..., 0]
            exact_x = self.currents(exact)
            # inside the region's closure exactly when every unit's φ still equals the region's affine piece there
            piece = slope[solvable] * exact_x + offset[solvable]
            same = np.all(np.abs(self.phi(exact_x) - piece) <= _INSIDE_RTOL * (1.0 + np.abs(exact_x)), axis=1)
            rows = np.flatnonzero(solvable)[same]
            polished[rows] = exact[same]
        return polished


def _distinct(z: np.ndarray) -> np.ndarray:
    """Rows of z (P, R) with every group closer than 1e-7 (1 + ‖z‖) merged, sorted lexicographically."""
    kept: list[np.ndarray] = []
    for point in z:
        if all(np.linalg.norm(point - other) > 1e-7 * (1.0 + np.linalg.norm(point)) for other in kept):
            kept.append(point)
    result = np.array(kept).reshape(-1, z.shape[1])
    return result[np.lexsort(result.T[::-1])] if result.shape[0] else result
