"""k-step-ahead forecasts, independent of the model family: horizons, the forward-prediction split, alignment.

A forecast of y_t with horizon k is made from the *filtering* posterior at t − k (only y_{≤ t−k} seen, never the
smoothed posterior, which has seen the future), propagated k steps through the model's own stochastic dynamics
without observations and mapped to the expected observation. Each family's module (``lowrank_forecast``,
``srnn_forecast``) filters and rolls its model; this module fixes what is forecast and lines the predictions up
with the observed bins so :func:`nwb_dyn.analysis.metrics.k_step_prediction_mse` and ``fp_bps`` can score them.

Forward prediction (NLB's fp-bps, Pals et al. 2024 Table 2): the last :data:`FORWARD_FRACTION` of every window is
predicted from its first bins only (filter on y_{<s}, roll T − s steps), so it is honest on windows the model was not
trained on (the validation split).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

#: Horizons (bins) forecast at every fit, clipped to T − 1 for short windows (Zhang & Saxena 2024 §3.3 use 10–40).
DEFAULT_HORIZONS: tuple[int, ...] = (1, 5, 10)

#: Share of each window's bins forecast from the rest for forward prediction (NLB: 200 ms of 700 ms ≈ 0.2–0.3).
FORWARD_FRACTION = 0.2


class Forecasts(NamedTuple):
    """Model forecasts aligned with the observed bins of every window.

    k_step: {k: (B, T, D)}, [b, t] = E[y_t | y_{b, ≤ t−k}] (expected counts per bin or signal mean), NaN for t < k.
    forward: (B, T, D), [b, t] for t ≥ forward_start = E[y_t | y_{b, < forward_start}], NaN before forward_start.
    """

    k_step: dict[int, np.ndarray]
    forward: np.ndarray
    forward_start: int


def forecast_horizons(num_bins: int, horizons: tuple[int, ...] = DEFAULT_HORIZONS) -> tuple[int, ...]:
    """The horizons to forecast in windows of ``num_bins`` bins: each clipped to T − 1, duplicates dropped."""
    if num_bins < 2:
        return ()
    return tuple(sorted({min(int(k), num_bins - 1) for k in horizons}))


def forward_start(num_bins: int, fraction: float = FORWARD_FRACTION) -> int:
    """First bin of the forward-prediction tail: the last ``fraction`` of T (≥ 1 bin), leaving ≥ 1 bin to filter on."""
    tail = max(1, round(fraction * num_bins))
    return max(1, num_bins - tail)


def place_ahead(from_origin: np.ndarray, lead: int) -> np.ndarray:
    """Move predictions made at their origin bin to the bin they predict.

    from_origin (B, T, D): [b, t] = prediction of y_{t+lead} made from y_{≤ t}. Returns (B, T, D) with [b, t] the
    prediction of y_t, NaN for the first ``lead`` bins (no origin before the window starts).
    """
    placed = np.full(from_origin.shape, np.nan, dtype=np.float32)
    if lead < from_origin.shape[1]:
        placed[:, lead:] = from_origin[:, : from_origin.shape[1] - lead]
    return placed


def forward_tail(tail_predictions: np.ndarray, num_bins: int, start: int) -> np.ndarray:
    """tail_predictions (B, T − start, D), leads 1.. from origin start − 1 → (B, T, D) NaN before ``start``."""
    batch, _, channels = tail_predictions.shape
    placed = np.full((batch, num_bins, channels), np.nan, dtype=np.float32)
    placed[:, start:] = tail_predictions
    return placed


def concatenate(chunks: list[Forecasts]) -> Forecasts:
    """Forecasts of consecutive window chunks (same horizons and forward start) as one :class:`Forecasts`."""
    first = chunks[0]
    return Forecasts(
        k_step={k: np.concatenate([chunk.k_step[k] for chunk in chunks]) for k in first.k_step},
        forward=np.concatenate([chunk.forward for chunk in chunks]),
        forward_start=first.forward_start,
    )


#: Rolls a chunk's filtered posterior forward: (origin bins, steps) → one (B, origins, D) prediction per step ahead.
Roller = Callable[[slice, int], list[np.ndarray]]


def forecast_in_chunks(
    values: np.ndarray,
    mask: np.ndarray,
    inputs: np.ndarray | None,
    prepare: Callable[[np.ndarray, np.ndarray, np.ndarray | None], Roller],
    horizons: tuple[int, ...] = DEFAULT_HORIZONS,
    chunk_size: int = 16,
) -> Forecasts:
    """The k-step and forward-tail forecasts of windows values, mask (B, T, D), inputs (B, T, U) or None.

    ``prepare`` is the family's part: it filters one chunk of windows (only y_{≤ t} at each t) and returns a
    :data:`Roller`. Every origin is rolled ``max(horizons)`` steps for the k-step forecasts, then the last bin
    before the forward split is rolled to the window's end. Chunks bound the memory of rolling all T origins.
    """
    num_bins = values.shape[1]
    leads = forecast_horizons(num_bins, horizons)
    start = forward_start(num_bins)
    chunks = []
    for first in range(0, len(values), chunk_size):
        window = slice(first, first + chunk_size)
        roll = prepare(values[window], mask[window], None if inputs is None else inputs[window])
        ahead = roll(slice(0, num_bins), max(leads, default=0))
        k_step = {k: place_ahead(ahead[k - 1], k) for k in leads}
        tail = roll(slice(start - 1, start), num_bins - start)
        chunks.append(Forecasts(k_step, forward_tail(np.concatenate(tail, axis=1), num_bins, start), start))
    return concatenate(chunks)
