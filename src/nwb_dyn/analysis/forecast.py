"""k-step-ahead forecasts, independent of the model family: horizons, the forward-prediction split, alignment.

A forecast of y_t with horizon k is made from the *filtering* posterior at t − k (only y_{≤ t−k} seen, never the
smoothed posterior, which has seen the future), propagated k steps through the model's own stochastic dynamics
without observations and mapped to the expected observation. Each family's module (``lowrank_forecast``,
``srnn_forecast``) filters and rolls its model; this module fixes what is forecast and lines the predictions up
with the observed bins so :func:`nwb_dyn.analysis.metrics.k_step_prediction_mse` and ``fp_bps`` can score them.

Forward prediction (NLB's fp-bps, Pals et al. 2024 Table 2): the last :data:`FORWARD_FRACTION` of every window is
predicted from its first bins only (filter on y_{<s}, roll T − s steps), so it is honest on windows the model was not
trained on (the validation split).

Only the windows the fit's metrics score are forecast (:func:`scored_windows`: the validation windows when there are
any); forecasts hold those rows only, so a whole-session fit does not keep four (B, T, D) arrays of mostly nothing.
Windows are forecast in chunks sized by a memory budget (:mod:`nwb_dyn.analysis.chunking`), and the expected
observation is computed only at the leads that are scored, while latents roll through every step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from nwb_dyn.extract import NeuralData

#: Horizons (bins) forecast at every fit, clipped to T − 1 for short windows (Zhang & Saxena 2024 §3.3 use 10–40).
DEFAULT_HORIZONS: tuple[int, ...] = (1, 5, 10)

#: Share of each window's bins forecast from the rest for forward prediction (NLB: 200 ms of 700 ms ≈ 0.2–0.3).
FORWARD_FRACTION = 0.2


class Forecasts(NamedTuple):
    """Model forecasts aligned with the observed bins of the windows forecast.

    k_step: {k: (W, T, D)}, [w, t] = E[y_t | y_{w, ≤ t−k}] (expected counts per bin or signal mean), NaN for t < k.
    forward: (W, T, D), [w, t] for t ≥ forward_start = E[y_t | y_{w, < forward_start}], NaN before forward_start.
    windows: (W,) the data-order index of each row; None when every window was forecast, in order.
    """

    k_step: dict[int, np.ndarray]
    forward: np.ndarray
    forward_start: int
    windows: np.ndarray | None = None

    def select(self, indices: np.ndarray) -> Forecasts:
        """The forecasts of the windows ``indices`` (data order, (I,)), rows in that order.

        Raises ValueError naming the windows that were not forecast.
        """
        indices = np.asarray(indices, dtype=np.int64)
        held = np.arange(len(self.forward)) if self.windows is None else self.windows
        if np.array_equal(indices, held):
            return self  # the rows asked for are the rows held: no copy of four (W, T, D) arrays
        if self.windows is None:
            rows = indices
        else:
            position = {int(window): row for row, window in enumerate(self.windows)}
            missing = [int(index) for index in indices if int(index) not in position]
            if missing:
                raise ValueError(f"windows {missing[:10]} were not forecast (only the scored windows are)")
            rows = np.array([position[int(index)] for index in indices], dtype=np.int64)
        return Forecasts(
            {k: values[rows] for k, values in self.k_step.items()}, self.forward[rows], self.forward_start, indices
        )


def scored_windows(data: NeuralData) -> np.ndarray:
    """(W,) indices of the windows a fit's metrics score (``nwb_dyn.evaluate.fit_metrics``): the validation split
    when it has windows, else the training split."""
    validation = data.split_indices("val")
    return validation if validation.size else data.split_indices("train")


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


#: Rolls a chunk's filtered posterior forward: (origin bins, leads (L,) ascending, ≥ 1) → one (B, origins, D)
#: prediction per lead, in the order of ``leads``.
Roller = Callable[[slice, tuple[int, ...]], list[np.ndarray]]


def forecast_in_chunks(
    values: np.ndarray,
    mask: np.ndarray,
    inputs: np.ndarray | None,
    prepare: Callable[[np.ndarray, np.ndarray, np.ndarray | None], Roller],
    horizons: tuple[int, ...] = DEFAULT_HORIZONS,
    chunk_size: int = 16,
    windows: np.ndarray | None = None,
) -> Forecasts:
    """The k-step and forward-tail forecasts of windows values, mask (B, T, D), inputs (B, T, U) or None.

    ``prepare`` is the family's part: it filters one chunk of windows (only y_{≤ t} at each t) and returns a
    :data:`Roller`. Every origin is rolled to each horizon for the k-step forecasts, then the last bin before the
    forward split is rolled to the window's end. ``chunk_size`` windows at a time bound the memory of rolling all T
    origins; ``windows`` (W,) limits the forecast to those windows (data order; None: all).
    """
    num_bins, channels = values.shape[1], values.shape[2]
    leads = forecast_horizons(num_bins, horizons)
    start = forward_start(num_bins)
    order = np.arange(len(values)) if windows is None else np.asarray(windows, dtype=np.int64)
    k_step = {k: np.full((order.size, num_bins, channels), np.nan, dtype=np.float32) for k in leads}
    forward = np.full((order.size, num_bins, channels), np.nan, dtype=np.float32)
    for first in range(0, order.size, chunk_size):
        rows = slice(first, first + chunk_size)
        chosen = order[rows]
        roll = prepare(values[chosen], mask[chosen], None if inputs is None else inputs[chosen])
        if leads:
            for k, ahead in zip(leads, roll(slice(0, num_bins), leads)):
                k_step[k][rows] = place_ahead(ahead, k)
        tail = roll(slice(start - 1, start), tuple(range(1, num_bins - start + 1)))
        forward[rows] = forward_tail(np.concatenate(tail, axis=1), num_bins, start)
    return Forecasts(k_step, forward, start, None if windows is None else order)
