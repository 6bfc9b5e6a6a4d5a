"""Prediction errors: reconstruction / co-smoothing MSE and k-step-ahead forecast MSE.

The model-side work (filtering on y_{1:t}, rolling the dynamics forward k steps, mapping through the emission)
happens in ``analysis``' generation code; these functions only score the forecasts it returns, so they can be
checked by hand and reused for any model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nwb_dyn.analysis.metrics._validation import (
    as_batch_time_channel,
    require_channel_mask,
    require_same_shape,
    row_chunks,
)
from nwb_dyn.errors import ConfigError


def mean_squared_error(
    observations: np.ndarray, predictions: np.ndarray, channels: np.ndarray | None = None
) -> float:
    """Uniform mean of (y − ŷ)² over all trials, bins and the selected channels, skipping non-finite predictions.

    observations, predictions (B, T, D); channels (D,) bool (None = all). With ``channels`` = the held-out units
    this is the co-smoothing MSE for continuous data; with all channels and the emission mean it is the
    reconstruction MSE of the switching-model paper.
    """
    observed = as_batch_time_channel(observations, "observations", keep_float_dtype=True)
    predicted = as_batch_time_channel(predictions, "predictions", keep_float_dtype=True)
    require_same_shape(observed, predicted, "observations", "predictions")
    if channels is not None:
        mask = require_channel_mask(channels, observed.shape[-1], "channels")
        observed, predicted = observed[..., mask], predicted[..., mask]
    squared_error, scored = 0.0, 0
    for rows in row_chunks(observed):
        errors = observed[rows].astype(np.float64) - predicted[rows]  # NaN where either is not finite
        finite = np.isfinite(errors)
        squared_error += float(np.square(errors, where=finite, out=np.zeros_like(errors)).sum())
        scored += int(finite.sum())
    if not scored:
        raise ConfigError("no bin has both a finite observation and a finite prediction; nothing to score")
    return squared_error / scored


def k_step_prediction_mse(observations: np.ndarray, forecasts: Mapping[int, np.ndarray]) -> dict[int, float]:
    """MSE of k-step-ahead forecasts for each horizon k.

    observations (B, T, D); ``forecasts[k]`` (B, T, D) holds at [b, t] the prediction of y[b, t] made from
    y[b, :t−k+1] only (filter up to t−k, roll the model k steps), and NaN where no forecast was made (t < t0 + k).
    Returns {k: mean over forecast entries of (y − ŷ)²}, the quantity of Zhang & Saxena (2024, §3.3) and the
    PE(n) of generalised teacher forcing.
    """
    if not forecasts:
        raise ConfigError("k-step prediction MSE needs forecasts for at least one horizon k")
    scores = {}
    for horizon, forecast in sorted(forecasts.items()):
        if horizon < 1:
            raise ConfigError(f"forecast horizons must be >= 1 step; got {horizon}")
        scores[int(horizon)] = mean_squared_error(observations, forecast)
    return scores
