"""Exact fixed points of piecewise-linear low-rank RNNs, found by visiting every region of their hyperplane arrangement.

The latent map of a low-rank RNN with R latents and N ReLU-type units is ``z ↦ a z + n φ(m z + c; h)``. Each unit
switches its slope on a hyperplane ``m_i z = threshold`` of the latent space, so the map is affine inside every
region of an arrangement of N hyperplanes in R^R (2N for clipped ReLU, whose two kinks are parallel hyperplanes).
A fixed point is the solution of one R×R linear system per region that lies inside its region (algorithms.md §2).

Such an arrangement in general position has ``Σ_{r≤R} D^r C(N, r)`` regions (Zaslavsky), O(N^R) rather than 2^N.
We visit each region exactly once, without storing the set of regions, by giving every region one owner:

* a region that is bounded below along a generic direction c has a unique lowest vertex; at that vertex it is the
  one of the 2^R adjacent regions lying on the positive side of c (write c in the basis of the R normals meeting
  there: the region is active exactly where the coefficient is positive);
* a region unbounded below meets the hyperplane {c·z = −L}, L below every vertex, in exactly one region of the
  (R−1)-dimensional arrangement cut out there, which we enumerate in the same way, down to dimension 0.

Vertices are walked line by line: along the line where R−1 hyperplanes meet, the other hyperplanes cross in sorted
order and each crossing switches one unit, so the region's linear system is a running sum over the sorted
crossings (one vectorised cumulative sum per chunk of lines, never all C(N, R) vertices at once). A vertex is
emitted only on the line of its R−1 lowest-numbered hyperplanes, so every vertex is seen once.

The walk sweeps Σ_{d<R} C(H, d) lines of H crossings each, which grows like N^(R−1)·N: fine at rank 3 and a few
hundred units, hopeless at rank 5 and N = 512. :func:`enumeration_cost` predicts the wall time before starting
(counts, plus the measured time of a random sample of lines), and ``time_limit_s`` stops a walk that overruns.
Pure NumPy: results and report code use it without torch.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from nwb_dyn.errors import ConfigError

Activation = Literal["relu", "clipped_relu"]
Reading = Literal["discrete", "continuous"]

# Relative tolerances: a determinant below this fraction of Hadamard's bound counts as singular; a hyperplane
# whose normal is this close to orthogonal to a line counts as parallel to it; a fixed point may sit this far
# (relative) on the wrong side of a wall of its region and still count as inside (points exactly on a wall).
_SINGULAR_RTOL = 1e-12
_PARALLEL_RTOL = 1e-12
_INSIDE_RTOL = 1e-9
# How far (relative to the arrangement's size) hyperplanes are moved to put them in general position.
_GENERIC_SHIFT = 1e-9
# Payload entries (crossings, i.e. line × hyperplane pairs, times the R² + R numbers each carries) held in memory
# at once (12 MiB; 2^17 crossings at rank 3), hyperplanes tried before the full region test, and candidates given the
# full test (against every hyperplane) at once.
_PAYLOAD_ENTRIES_PER_CHUNK = 12 << 17
_PROBE_HYPERPLANES = 32
_FULL_TESTS_PER_BLOCK = 1024
# Below this many seconds per payload entry swept no machine goes (a cumulative sum over float64 entries); it bounds
# the cost from below without timing anything, so hopeless networks (rank 36) are recognised in microseconds.
_FASTEST_SECONDS_PER_ENTRY = 2.5e-10
# Lines timed to calibrate a cost estimate: chunks of random lines (at least this many lines when there are as many).
_MIN_SAMPLED_LINES = 64
_SAMPLE_CHUNKS = 3


class EnumerationTimeLimit(RuntimeError):
    """The exact walk passed its ``time_limit_s``; ``regions_visited`` systems had been solved by then."""

    def __init__(self, time_limit_s: float, regions_visited: int) -> None:
        super().__init__(
            f"the exact fixed-point enumeration passed its time limit of {time_limit_s:.1f} s after solving "
            f"{regions_visited} regions"
        )
        self.time_limit_s = time_limit_s
        self.regions_visited = regions_visited


@dataclass(frozen=True)
class EnumerationCost:
    """What the exact walk would cost on this network, predicted before running it.

    lines: lines swept over every level (Σ_{d<R} of the d-subsets of hyperplanes with no two kinks of one unit);
    crossings: lines × hyperplanes; regions: Zaslavsky's count in general position (the linear systems solved);
    payload_entries: crossings × (R² + R), the numbers the walk sums; seconds: the predicted wall time;
    sampled_lines: how many random lines were timed to calibrate ``seconds`` (0 when the lower bound
    ``payload_entries × _FASTEST_SECONDS_PER_ENTRY`` alone already exceeded the budget, or nothing was to sweep).
    """

    lines: int
    crossings: int
    regions: int
    payload_entries: int
    seconds: float
    sampled_lines: int


@dataclass(frozen=True)
class FixedPoints:
    """Fixed points of a latent map with their local stability, both time readings.

    z: (P, R) fixed points. slopes: (P, N) activation slope φ' of every unit there (−1, 0 or 1).
    discrete_eigenvalues: (P, R) eigenvalues of the map's Jacobian ``a I + n diag(φ') m`` (stable iff all |λ| < 1).
    continuous_eigenvalues: (P, R) eigenvalues of the ODE ``τ dz/dt = −z + N φ(M z)`` it discretises, in units of
    1/τ: ``(λ_discrete − 1) / (1 − a)`` (stable iff all Re λ < 0). ``reading`` says which of the two
    ``eigenvalues`` and ``stable`` report. Counts: ``regions_visited`` linear systems solved (one per region of
    the arrangement; in general position Σ_{r≤R} D^r C(N, r), and so after the generic shift that puts a degenerate
    arrangement in general position), ``vertex_solves`` hyperplane intersections computed, ``singular_regions``
    regions whose system was singular (no isolated fixed point there; a continuous attractor if it holds one).
    """

    z: np.ndarray
    slopes: np.ndarray
    discrete_eigenvalues: np.ndarray
    continuous_eigenvalues: np.ndarray
    reading: Reading
    regions_visited: int
    vertex_solves: int
    singular_regions: int

    @property
    def eigenvalues(self) -> np.ndarray:
        """(P, R) eigenvalues in this result's ``reading``."""
        return self.discrete_eigenvalues if self.reading == "discrete" else self.continuous_eigenvalues

    @property
    def discrete_stable(self) -> np.ndarray:
        """(P,) True where the map's spectral radius is below 1."""
        return np.all(np.abs(self.discrete_eigenvalues) < 1.0, axis=1)

    @property
    def continuous_stable(self) -> np.ndarray:
        """(P,) True where every continuous-time eigenvalue has a negative real part."""
        return np.all(self.continuous_eigenvalues.real < 0.0, axis=1)

    @property
    def stable(self) -> np.ndarray:
        """(P,) stability in this result's ``reading``."""
        return self.discrete_stable if self.reading == "discrete" else self.continuous_stable

    @property
    def solves(self) -> int:
        """Linear solves made: one per vertex and one per region."""
        return self.vertex_solves + self.regions_visited


def piecewise_linear_fixed_points(
    m: np.ndarray,
    n: np.ndarray,
    b: np.ndarray,
    activation: Activation = "relu",
    input_current: np.ndarray | None = None,
    alpha: float = 0.1,
) -> FixedPoints:
    """All fixed points of ``z = n φ(m z + b + u)`` in the convention of the shared teacher files.

    m: (N, R), n: (R, N) already scaled (the teachers' ``n / N``), b: (N,) bias added to every current,
    input_current u: (N,) constant input added to the currents (default zero). ``relu`` is ``max(x + b, 0)`` and
    ``clipped_relu`` is ``max(x + b, 0) − max(x, 0)``; the bias always enters the first kink.
    These are the fixed points of the teachers' step ``z' = (1 − α) z + α n φ(m z + b + u)``, i.e. of the model
    convention of :func:`discrete_time_fixed_points` with ``decay = 1 − α``, ``n_model = α n`` and bias ``h = −b``
    (relu) or ``h = b`` (clipped_relu). ``eigenvalues``/``stable`` report the continuous-time reading, the
    eigenvalues of ``−I + n D m`` (the teacher files' convention); ``alpha`` (Δt/τ, 0.1 for the shared teachers)
    only sets the discrete reading. Returns a :class:`FixedPoints`.
    """
    if not 0.0 < alpha <= 1.0:
        raise ConfigError(
            f"alpha={alpha!r}: the step fraction Δt/τ must lie in (0, 1]; the shared teachers use 0.1"
        )
    bias = np.asarray(b, dtype=float)
    neuron_bias = -bias if activation == "relu" else bias
    result = discrete_time_fixed_points(
        1.0 - alpha, alpha * np.asarray(n, dtype=float), m, neuron_bias, input_current, activation
    )
    return replace(result, reading="continuous")


def discrete_time_fixed_points(
    decay: float,
    n: np.ndarray,
    m: np.ndarray,
    bias: np.ndarray,
    input_current: np.ndarray | None = None,
    activation: Activation = "relu",
    time_limit_s: float | None = None,
) -> FixedPoints:
    """All fixed points of the fitted model's latent map ``z_{t+1} = a z_t + n φ(m z_t + c; h)`` (algorithms.md §1).

    decay a: scalar in [0, 1); n: (R, N) output weights already scaled (Ñᵀ = Δt/τ Nᵀ); m: (N, R); bias h: (N,);
    input_current c: (N,) constant input current (default zero). ``relu`` is φ(x; h) = max(x − h, 0),
    ``clipped_relu`` is φ(x; h) = max(x + h, 0) − max(x, 0). ``eigenvalues``/``stable`` report the discrete
    reading (the Jacobian ``a I + n diag(φ') m``); ``continuous_eigenvalues`` hold ``(λ − 1)/(1 − a)``, the ODE's
    eigenvalues in units of 1/τ since ``a = 1 − Δt/τ``. The teacher convention ``z = n' φ(m z + b)`` is
    ``decay = 1 − α``, ``n = α n'``, ``h = −b`` (see :func:`piecewise_linear_fixed_points`).
    Arrangements out of general position (clipped ReLU without input: all kinks at x = 0 meet at z = 0;
    duplicated units) are handled by moving every hyperplane by a generic ~1e-9 of the arrangement's size; only a
    fixed point in a region thinner than that could be missed. Returns a :class:`FixedPoints`.
    ``time_limit_s`` (wall seconds, None for none) stops the walk with :class:`EnumerationTimeLimit` once passed;
    :func:`enumeration_cost` predicts the time beforehand.
    """
    network = _Network.validated(decay, n, m, bias, input_current, activation)
    deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s
    try:
        return _RegionWalk(network, deadline).fixed_points()
    except _PastDeadline as stopped:
        raise EnumerationTimeLimit(float(time_limit_s), stopped.regions_visited) from None


def enumeration_cost(
    decay: float,
    n: np.ndarray,
    m: np.ndarray,
    bias: np.ndarray,
    input_current: np.ndarray | None = None,
    activation: Activation = "relu",
    budget_s: float | None = None,
) -> EnumerationCost:
    """Predict the wall time of :func:`discrete_time_fixed_points` on this network (same arguments) on this machine.

    The walk's cost is per line swept (each line sorts and sums the payloads of all H hyperplanes it crosses and
    solves the regions its vertices own), and the lines of every level are counted exactly. The time per line is
    measured on random lines of the top level (the fastest of three chunks, a fraction of a second), unless the
    lower bound from the counts alone already exceeds ``budget_s``: then nothing is timed.
    """
    network = _Network.validated(decay, n, m, bias, input_current, activation)
    count, rank = network.offsets.size, network.m.shape[1]
    units = count if activation == "relu" else count // 2
    kinks = 1 if activation == "relu" else 2

    def subsets(size: int) -> int:  # size-subsets of the hyperplanes holding at most one kink per unit
        return math.comb(units, size) * kinks**size

    lines = sum(subsets(dimension - 1) for dimension in range(1, rank + 1))
    crossings = lines * count
    payload_entries = crossings * (rank * rank + rank)
    regions = sum(subsets(size) for size in range(rank + 1))
    floor_s = payload_entries * _FASTEST_SECONDS_PER_ENTRY
    if count == 0 or (budget_s is not None and floor_s > budget_s):
        return EnumerationCost(lines, crossings, regions, payload_entries, floor_s, 0)
    walk = _RegionWalk(network, None)
    direction = walk.rng.standard_normal(rank)
    direction /= np.linalg.norm(direction)
    top_lines = subsets(rank - 1)
    sample_size = min(top_lines, max(_MIN_SAMPLED_LINES, walk.lines_per_chunk(rank)))
    per_line_s, sampled = np.inf, 0
    for _ in range(_SAMPLE_CHUNKS):  # the fastest chunk: other processes only ever slow a timing down
        sample = _random_line_subsets(walk.rng, count, rank - 1, network.twin, sample_size)
        started = time.perf_counter()
        walk.sweep_lines(sample, walk.net.normals, walk.shifted_offsets, direction)
        per_line_s = min(per_line_s, (time.perf_counter() - started) / max(1, sample.shape[0]))
        sampled += sample.shape[0]
    return EnumerationCost(lines, crossings, regions, payload_entries, max(floor_s, per_line_s * lines), sampled)


@dataclass(frozen=True)
class _Network:
    """The map as an arrangement: hyperplane j is ``normals[j] · z = offsets[j]``; while ``normals[j]·z > offsets[j]``
    it adds ``outputs[j] (normals[j]·z − offsets[j])`` to the map. Units whose current does not depend on z add the
    constant ``constant_drive``; ``twin`` pairs the two parallel kinks of one clipped-ReLU unit (−1 for none)."""

    decay: float
    n: np.ndarray  # (R, N)
    m: np.ndarray  # (N, R)
    bias: np.ndarray  # (N,)
    current: np.ndarray  # (N,)
    activation: Activation
    normals: np.ndarray  # (H, R)
    offsets: np.ndarray  # (H,)
    outputs: np.ndarray  # (H, R)
    unit: np.ndarray  # (H,) unit of each hyperplane
    slope_sign: np.ndarray  # (H,) +1 or −1: the slope the kink adds
    twin: np.ndarray  # (H,)
    constant_drive: np.ndarray  # (R,)

    @classmethod
    def validated(
        cls,
        decay: float,
        n: np.ndarray,
        m: np.ndarray,
        bias: np.ndarray,
        input_current: np.ndarray | None,
        activation: str,
    ) -> _Network:
        n, m, bias = (np.asarray(x, dtype=float) for x in (n, m, bias))
        if m.ndim != 2 or m.shape[1] == 0:
            raise ConfigError(f"m has shape {m.shape}; pass the (N, R) input weights of the low-rank network")
        units, rank = m.shape
        if n.shape != (rank, units):
            raise ConfigError(
                f"n has shape {n.shape} but m is {m.shape}; n must be (R, N) = ({rank}, {units})"
            )
        if bias.shape != (units,):
            raise ConfigError(f"bias has shape {bias.shape}; it needs one value per unit, shape ({units},)")
        current = np.zeros(units) if input_current is None else np.asarray(input_current, dtype=float)
        if current.shape != (units,):
            raise ConfigError(
                f"input_current has shape {current.shape}; pass one constant current per unit, ({units},)"
            )
        if not 0.0 <= float(decay) < 1.0:
            raise ConfigError(f"decay={decay!r}: the discrete-time decay a = 1 − Δt/τ must lie in [0, 1)")
        if activation not in ("relu", "clipped_relu"):
            raise ConfigError(
                f"activation={activation!r} is not piecewise linear here; use 'relu' or 'clipped_relu'"
            )
        if not all(np.all(np.isfinite(x)) for x in (n, m, bias, current)):
            raise ConfigError(
                "n, m, bias and input_current must be finite; a fitted model with NaN weights has no fixed points"
            )

        moving = np.any(m != 0.0, axis=1)
        constant_drive = n[:, ~moving] @ _activation(current[~moving], bias[~moving], activation)
        kept = moving & np.any(n != 0.0, axis=0)
        if activation == "relu":
            thresholds, signs = [bias - current], [1.0]
        else:  # two parallel kinks, at x = −h (slope +1) and x = 0 (slope −1); h = 0 makes the unit silent
            kept &= bias != 0.0
            thresholds, signs = [-bias - current, -current], [1.0, -1.0]
        index = np.flatnonzero(kept)
        unit = np.tile(index, len(signs))
        slope_sign = np.repeat(signs, index.size)
        twin = np.full(unit.size, -1)
        if activation == "clipped_relu":
            twin = np.roll(np.arange(unit.size), index.size)
        return cls(
            decay=float(decay),
            n=n,
            m=m,
            bias=bias,
            current=current,
            activation=activation,
            normals=m[unit],
            offsets=np.concatenate([threshold[index] for threshold in thresholds]),
            outputs=n[:, unit].T * slope_sign[:, None],
            unit=unit,
            slope_sign=slope_sign,
            twin=twin,
            constant_drive=constant_drive,
        )


def _activation(current: np.ndarray, bias: np.ndarray, activation: Activation) -> np.ndarray:
    if activation == "relu":
        return np.maximum(current - bias, 0.0)
    return np.maximum(current + bias, 0.0) - np.maximum(current, 0.0)


def _activation_slope(current: np.ndarray, bias: np.ndarray, activation: Activation) -> np.ndarray:
    if activation == "relu":
        return (current > bias).astype(float)
    return (current > -bias).astype(float) - (current > 0.0).astype(float)


class _RegionWalk:
    """Visits every region of the arrangement once (see the module docstring) and keeps the fixed points.

    Per-vertex arrays are channel-major, (channels, M) with one column per vertex: NumPy gathers and combines
    whole rows several times faster than it does short (M, channels) rows.
    """

    def __init__(self, network: _Network, deadline: float | None) -> None:
        self.net = network
        self.deadline = deadline  # time.perf_counter() value past which the walk stops, or None
        rank = network.m.shape[1]
        self.rank = rank
        # payload[j] = (outputs_j normals_jᵀ flattened, outputs_j offsets_j): what hyperplane j adds to the system
        # (1 − a) z − Σ_active outputs_j (normals_j·z − offsets_j) = constant_drive when it is active.
        self.payload = np.concatenate(
            [
                np.einsum("hr,hs->hrs", network.outputs, network.normals).reshape(-1, rank * rank),
                network.outputs * network.offsets[:, None],
            ],
            axis=1,
        )
        count = network.offsets.size
        # column `count` is the payload of no hyperplane, so "add it if active" becomes one gather
        self.payload_columns = np.concatenate([self.payload.T, np.zeros((self.payload.shape[1], 1))], axis=1)
        self.signed_payload = np.concatenate([self.payload.T, -self.payload.T], axis=1)  # (K, 2H)
        self.normal_columns = np.ascontiguousarray(network.normals.T)  # (R, H)
        self.normal_norms = np.linalg.norm(network.normals, axis=1)
        # a fixed seed fixes the generic sweep directions and shifts: the same network always gives the same counts
        self.rng = np.random.default_rng(20240601)
        # Learned networks often break general position: with zero input every clipped-ReLU kink at x = 0 (and every
        # zero-bias ReLU) passes through z = 0. Regions and vertices are therefore taken from an arrangement whose
        # hyperplanes are moved by a generic ~1e-9 of its size (in general position for sure, and with a region of
        # the same pattern inside every region of the real one); systems and the inside test use the real offsets.
        reach = 1.0 + np.max(np.abs(network.offsets) / self.normal_norms, initial=0.0)
        shift = _GENERIC_SHIFT * reach * self.rng.uniform(-1.0, 1.0, count)
        self.shifted_offsets = network.offsets + shift * self.normal_norms
        self.probe = self.rng.permutation(count)[: min(_PROBE_HYPERPLANES, count)]
        self.regions_visited = 0
        self.vertex_solves = 0
        self.singular_regions = 0
        self.found_z: list[np.ndarray] = []
        self.found_active: list[np.ndarray] = []

    def fixed_points(self) -> FixedPoints:
        """Walk every level (dimension R down to 0) and assemble the deduplicated fixed points."""
        origin = np.zeros(self.rank)
        basis = np.eye(self.rank)
        for dimension in range(self.rank, 0, -1):
            direction = self.rng.standard_normal(dimension)
            direction /= np.linalg.norm(direction)
            lowest = self._walk_vertices(origin, basis, direction)
            # The slice {direction·w = −depth} must pass below every vertex of this level.
            depth = 1.0 + (max(0.0, -lowest) * 1.5 if np.isfinite(lowest) else 0.0)
            complement = np.linalg.svd(direction[None, :])[2][1:].T  # (dimension, dimension − 1) orthonormal
            origin = origin + basis @ (-depth * direction)
            basis = basis @ complement
        self._single_region(origin)
        return self._assemble()

    def _walk_vertices(self, origin: np.ndarray, basis: np.ndarray, direction: np.ndarray) -> float:
        """Solve the region owned by every vertex of the arrangement cut on the flat ``origin + basis w``.

        Returns the lowest height ``direction · w`` of those vertices (inf when there are none).
        """
        normals = self.net.normals @ basis  # (H, D) hyperplanes in this flat's coordinates w
        offsets = self.shifted_offsets - self.net.normals @ origin
        dimension = basis.shape[1]
        lowest = np.inf
        for lines in _line_subsets(offsets.size, dimension - 1, self.net.twin, self.lines_per_chunk(dimension)):
            if self.deadline is not None and time.perf_counter() > self.deadline:
                raise _PastDeadline(self.regions_visited)
            lowest = min(lowest, self.sweep_lines(lines, normals, offsets, direction))
        return lowest

    def lines_per_chunk(self, dimension: int) -> int:
        """Lines swept at once: their crossings' payloads (R² + R numbers each) stay within the chunk size."""
        width = self.payload.shape[1]
        return max(1, _PAYLOAD_ENTRIES_PER_CHUNK // max(1, self.net.offsets.size * width))

    def sweep_lines(self, lines: np.ndarray, normals: np.ndarray, offsets: np.ndarray, direction: np.ndarray) -> float:
        """Solve the regions owned by the vertices on ``lines`` (L, D−1); returns their lowest height (inf if none)."""
        vertices = _vertices_on_lines(
            lines, normals, offsets, direction, self.signed_payload, self.payload_columns, self.net.twin
        )
        if vertices is None:
            return np.inf
        self.vertex_solves += vertices.walls.shape[1]
        self._solve_regions(vertices, normals, offsets)
        return float(np.min(direction @ vertices.position))

    def _solve_regions(self, vertices: _Vertices, normals: np.ndarray, offsets: np.ndarray) -> None:
        """Solve the system of the region each vertex owns; keep solutions that lie inside it."""
        count = offsets.size
        system = vertices.base_payload
        for wall, side in zip(vertices.walls, vertices.owned_side):
            system += np.take(self.payload_columns, np.where(side, wall, count), axis=1)
        z, solvable = self._solve(system)
        self.regions_visited += solvable.size
        self.singular_regions += int(np.count_nonzero(~solvable))
        # cheap tests first: the D walls through the vertex, then a fixed handful of hyperplanes, then all
        inside = solvable & self._on_owned_side_of_walls(z, vertices.walls, vertices.owned_side)
        keep = np.flatnonzero(inside)
        walls, side = vertices.walls[:, keep].T, vertices.owned_side[:, keep].T
        position, z = vertices.position[:, keep].T, z[:, keep].T
        keep = np.arange(keep.size)
        probe = self.probe
        active = _side_of_vertex(position, walls, side, normals, offsets, probe)
        keep = keep[
            _agrees(z, self.net.normals[probe], self.net.offsets[probe], self.normal_norms[probe], active)
        ]
        everything = np.arange(count)
        for start in range(0, keep.size, _FULL_TESTS_PER_BLOCK):
            block = keep[start : start + _FULL_TESTS_PER_BLOCK]
            active = _side_of_vertex(position[block], walls[block], side[block], normals, offsets, everything)
            inside = _agrees(z[block], self.net.normals, self.net.offsets, self.normal_norms, active)
            self.found_z.extend(z[block[inside]])
            self.found_active.extend(active[inside])

    def _on_owned_side_of_walls(self, z: np.ndarray, walls: np.ndarray, side: np.ndarray) -> np.ndarray:
        """(M,) whether z (R, M) lies on the owned side (D, M) of each wall (D, M) of its vertex."""
        length = np.sqrt(np.einsum("rm,rm->m", z, z))
        inside = np.ones(z.shape[1], dtype=bool)
        for wall, wall_side in zip(walls, side):
            signed = -np.take(self.net.offsets, wall)
            for coordinate, normal_coordinate in zip(z, self.normal_columns):
                signed += np.take(normal_coordinate, wall) * coordinate
            slack = _INSIDE_RTOL * (
                np.abs(np.take(self.net.offsets, wall)) + np.take(self.normal_norms, wall) * length + 1.0
            )
            inside &= np.where(wall_side, signed > -slack, signed < slack)
        return inside

    def _solve(self, system: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solve ``((1 − a) I − Σ outputs normalsᵀ) z = constant_drive − Σ outputs offsets`` for the summed payloads
        system (R²+R, M); returns z (R, M) and solvable (M,)."""
        rank = self.rank
        matrix = -system[: rank * rank].reshape(rank, rank, -1)
        matrix[np.arange(rank), np.arange(rank)] += 1.0 - self.net.decay
        rhs = self.net.constant_drive[:, None] - system[rank * rank :]
        return _solve_small(matrix, rhs)

    def _single_region(self, origin: np.ndarray) -> None:
        """The dimension-0 level: the one region met by the last slice, at the point ``origin``."""
        active = self.net.normals @ origin - self.shifted_offsets > 0.0
        z, solvable = self._solve((active.astype(float) @ self.payload)[:, None])
        self.regions_visited += 1
        if not solvable[0]:
            self.singular_regions += 1
        elif _agrees(z.T, self.net.normals, self.net.offsets, self.normal_norms, active[None])[0]:
            self.found_z.append(z[:, 0])
            self.found_active.append(active)

    def _assemble(self) -> FixedPoints:
        net, rank = self.net, self.rank
        z = np.array(self.found_z).reshape(-1, rank)
        active = np.array(self.found_active, dtype=bool).reshape(len(self.found_active), net.offsets.size)
        unique = _distinct_rows(z)
        z, active = z[unique], active[unique]
        order = np.lexsort(z.T[::-1])
        z, active = z[order], active[order]
        jacobian = net.decay * np.eye(rank) + (active.astype(float) @ self.payload[:, : rank * rank]).reshape(
            -1, rank, rank
        )
        discrete = np.linalg.eigvals(jacobian) if z.shape[0] else np.zeros((0, rank), dtype=complex)
        discrete = np.sort_complex(discrete)
        slopes = _activation_slope(z @ net.m.T + net.current, net.bias, net.activation)
        slopes[:, net.unit] = 0.0
        np.add.at(slopes.T, net.unit, (active * net.slope_sign).T)
        return FixedPoints(
            z=z,
            slopes=slopes.astype(np.int8),
            discrete_eigenvalues=discrete,
            continuous_eigenvalues=(discrete - 1.0) / (1.0 - net.decay),
            reading="discrete",
            regions_visited=self.regions_visited,
            vertex_solves=self.vertex_solves,
            singular_regions=self.singular_regions,
        )


def _side_of_vertex(
    position: np.ndarray,
    walls: np.ndarray,
    side: np.ndarray,
    normals: np.ndarray,
    offsets: np.ndarray,
    columns: np.ndarray,
) -> np.ndarray:
    """(M, C) activity of hyperplanes ``columns`` (C,) in the region a vertex owns: off the vertex's walls it is the
    side the vertex lies on; on its walls it is the owned side. position (M, D), walls and side (M, D)."""
    active = position @ normals[columns].T - offsets[columns] > 0.0
    on_wall = walls[:, :, None] == columns[None, None, :]  # (M, D, C)
    wall_side = np.any(on_wall & side[:, :, None], axis=1)
    return np.where(np.any(on_wall, axis=1), wall_side, active)


def _agrees(
    z: np.ndarray, normals: np.ndarray, offsets: np.ndarray, norms: np.ndarray, active: np.ndarray
) -> np.ndarray:
    """(M,) whether points z (M, R) lie on the ``active`` (M, C) side of hyperplanes ``normals`` (C, R),
    ``offsets`` (C,) with normal lengths ``norms`` (C,), up to a relative slack for points on a wall."""
    signed = z @ normals.T - offsets
    slack = _INSIDE_RTOL * (np.abs(offsets) + norms * np.linalg.norm(z, axis=1)[:, None] + 1.0)
    return np.all(np.where(active, signed > -slack, signed < slack), axis=1)


@dataclass(frozen=True)
class _Vertices:
    """Vertices met on a chunk of lines, one column each. position: (D, M) in the flat's coordinates; walls:
    (D, M) the hyperplanes through each; owned_side: (D, M) the side of each wall (True = active) of the region the
    vertex owns; base_payload: (R²+R, M) summed payload of the hyperplanes active there, walls excluded."""

    position: np.ndarray
    walls: np.ndarray
    owned_side: np.ndarray
    base_payload: np.ndarray


class _PastDeadline(Exception):
    """Raised inside the walk when its deadline has passed; carries the regions solved so far."""

    def __init__(self, regions_visited: int) -> None:
        super().__init__(regions_visited)
        self.regions_visited = regions_visited


def _random_line_subsets(
    rng: np.random.Generator, count: int, size: int, twin: np.ndarray, lines: int
) -> np.ndarray:
    """(L, size) random sorted ``size``-subsets of ``count`` hyperplanes without both kinks of one unit (L ≤ lines;
    duplicates are harmless for timing)."""
    if size == 0:
        return np.zeros((1, 0), dtype=np.intp)
    draws = np.sort(np.argsort(rng.random((2 * lines, count)), axis=1)[:, :size], axis=1)
    clash = np.any(twin[draws][:, :, None] == draws[:, None, :], axis=(1, 2))
    return draws[~clash][:lines]


def _line_subsets(count: int, size: int, twin: np.ndarray, chunk: int) -> Iterator[np.ndarray]:
    """Chunks (L, size) of the ``size``-subsets of ``count`` hyperplanes, without both kinks of one unit."""
    combos = itertools.combinations(range(count), size)
    while True:
        block = np.fromiter(itertools.chain.from_iterable(itertools.islice(combos, chunk)), dtype=np.intp)
        if size == 0:
            yield np.zeros((1, 0), dtype=np.intp)
            return
        if block.size == 0:
            return
        block = block.reshape(-1, size)
        twins = twin[block]
        clash = np.any(twins[:, :, None] == block[:, None, :], axis=(1, 2))
        if not np.all(clash):
            yield block[~clash]


def _vertices_on_lines(
    lines: np.ndarray,
    normals: np.ndarray,
    offsets: np.ndarray,
    direction: np.ndarray,
    signed_payload: np.ndarray,
    payload_columns: np.ndarray,
    twin: np.ndarray,
) -> _Vertices | None:
    """Sweep each line (the meet of the D−1 hyperplanes in a row of ``lines`` (L, D−1)) and return the vertices on
    it whose other hyperplane has a higher index than all of the line's, with the region each owns.

    normals (H, D), offsets (H,) describe the arrangement in the flat's coordinates; direction (D,) is the generic
    sweep direction; signed_payload (K, 2H) is each hyperplane's payload then its negative, payload_columns
    (K, H + 1) the payloads and a zero column. The active set along a line changes by one hyperplane per crossing,
    so the base payload of every vertex is a cumulative sum over the sorted crossings.
    """
    count = offsets.size
    along, point, pseudo_inverse = _line_geometry(normals[lines], offsets[lines])
    good = np.isfinite(along[:, 0])
    if not np.all(good):
        lines, along, point, pseudo_inverse = lines[good], along[good], point[good], pseudo_inverse[good]
    if lines.shape[0] == 0:
        return None
    rows = np.arange(lines.shape[0])[:, None]
    rate = along @ normals.T  # (L, H): d(normal·w − offset)/dt along the line
    level = point @ normals.T - offsets  # (L, H): normal·w − offset at t = 0
    parallel = np.abs(rate) <= _PARALLEL_RTOL * np.linalg.norm(normals, axis=1)
    on_line = np.zeros_like(parallel)
    on_line[rows, lines] = True
    parallel |= on_line
    if lines.shape[1]:  # the other kink of a wall's unit is parallel to the line; rounding may hide that
        partners = twin[lines]
        parallel[rows, np.where(partners >= 0, partners, lines)] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(parallel, np.inf, -level / rate)
    active_at_start = np.where(parallel, level > 0.0, rate < 0.0) & ~on_line
    start_payload = payload_columns[:, :count] @ active_at_start.T.astype(float)  # (K, L)
    order = np.argsort(crossing, axis=1)
    # one gather picks the step each crossing makes, +payload (switches on) or −payload (switches off)
    step_index = order + count * np.take_along_axis(rate < 0.0, order, axis=1)
    after = np.take(signed_payload, step_index, axis=1)  # (K, L, H): payload just after each crossing
    np.cumsum(after, axis=2, out=after)
    crossings_on_line = count - np.count_nonzero(parallel, axis=1)
    emitted = (np.arange(count) < crossings_on_line[:, None]) & (
        order > lines.max(axis=1, initial=-1)[:, None]
    )
    flat = np.flatnonzero(emitted)
    if flat.size == 0:
        return None
    line = flat // count
    crossed = np.take(order, flat)
    crossed_flat = line * count + crossed
    t = np.take(crossing, crossed_flat)
    crossed_rate = np.take(rate, crossed_flat)
    position = np.take(point.T, line, axis=1) + t * np.take(along.T, line, axis=1)  # (D, M)
    # just after its crossing the crossed hyperplane is active when it switches on there; it is a wall: leave it out
    base = np.take(after.reshape(after.shape[0], -1), flat, axis=1)
    base += np.take(start_payload, line, axis=1)
    base -= np.take(payload_columns, np.where(crossed_rate > 0.0, crossed, count), axis=1)
    # direction = Σ_T λ_k normal_k + λ_j normal_j: λ_j from the line's direction, λ_T from the rest
    weight_crossed = np.take(along @ direction, line) / crossed_rate
    remainder = direction[:, None] - weight_crossed * np.take(normals.T, crossed, axis=1)  # (D, M)
    weight_line = np.einsum("dkm,dm->km", np.take(pseudo_inverse.transpose(1, 2, 0), line, axis=2), remainder)
    walls = np.concatenate([np.take(lines.T, line, axis=1), crossed[None]], axis=0)
    owned_side = np.concatenate([weight_line, weight_crossed[None]], axis=0) > 0.0
    return _Vertices(position, walls, owned_side, base)


def _line_geometry(
    wall_normals: np.ndarray, wall_offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direction (L, D) of unit length, a point (L, D) and the pseudo-inverse (L, D, D−1) of each line
    ``{w : wall_normals w = wall_offsets}`` with wall_normals (L, D−1, D). Degenerate lines get NaN directions."""
    lines, walls = wall_normals.shape[:2]
    if walls == 0:
        return np.ones((lines, 1)), np.zeros((lines, 1)), np.zeros((lines, 1, 0))
    left, singular, right_t = np.linalg.svd(wall_normals, full_matrices=True)
    along = right_t[:, -1, :].copy()
    degenerate = singular[:, -1] <= _SINGULAR_RTOL * singular[:, 0]
    along[degenerate] = np.nan
    with np.errstate(divide="ignore"):
        inverse_singular = 1.0 / singular
    pseudo_inverse = np.einsum("lkd,lk,lwk->ldw", right_t[:, :walls, :], inverse_singular, left)
    point = np.einsum("ldw,lw->ld", pseudo_inverse, wall_offsets)
    return along, point, pseudo_inverse


def _solve_small(matrix: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve the systems matrix[:, :, k] · z[:, k] = rhs[:, k] for matrix (R, R, M), rhs (R, M): closed forms for
    R ≤ 3 (a batched LAPACK call costs about a microsecond per 3×3 system, the closed form a few nanoseconds).
    Returns z (R, M) and solvable (M,), False where the determinant is below ``_SINGULAR_RTOL`` of Hadamard's
    bound (the product of the row lengths)."""
    rank = matrix.shape[0]
    bound = np.sqrt(np.prod(np.einsum("rsm,rsm->rm", matrix, matrix), axis=0))
    if rank == 1:
        det = matrix[0, 0]
        adjugate = np.ones_like(matrix)
    elif rank == 2:
        (a, b), (c, d) = matrix
        det = a * d - b * c
        adjugate = np.stack([np.stack([d, -b]), np.stack([-c, a])])
    elif rank == 3:
        (a, b, c), (d, e, f), (g, h, i) = matrix
        cofactor_a, cofactor_b, cofactor_c = e * i - f * h, f * g - d * i, d * h - e * g
        det = a * cofactor_a + b * cofactor_b + c * cofactor_c
        adjugate = np.stack(
            [
                np.stack([cofactor_a, c * h - b * i, b * f - c * e]),
                np.stack([cofactor_b, a * i - c * g, c * d - a * f]),
                np.stack([cofactor_c, b * g - a * h, a * e - b * d]),
            ]
        )
    else:
        stacked = np.moveaxis(matrix, 2, 0)
        solvable = np.abs(np.linalg.det(stacked)) > _SINGULAR_RTOL * bound
        z = np.full(rhs.shape, np.nan)
        if np.any(solvable):
            z[:, solvable] = np.linalg.solve(stacked[solvable], rhs.T[solvable][..., None])[..., 0].T
        return z, solvable
    solvable = np.abs(det) > _SINGULAR_RTOL * bound
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.einsum("rsm,sm->rm", adjugate, rhs) / det
    return z, solvable


def _distinct_rows(z: np.ndarray) -> np.ndarray:
    """Indices of the first of every group of rows of z (P, R) that agree to 1e-7 relative (a point on a wall
    is found from both sides)."""
    keep: list[int] = []
    for index, point in enumerate(z):
        scale = 1e-7 * (1.0 + np.linalg.norm(point))
        if all(np.linalg.norm(point - z[other]) > scale for other in keep):
            keep.append(index)
    return np.array(keep, dtype=np.intp)
