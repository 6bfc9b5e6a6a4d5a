"""Reconstruction, co-smoothing and k-step-ahead MSE against hand values."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_dyn.analysis.metrics import k_step_prediction_mse, mean_squared_error
from nwb_dyn.errors import ConfigError


def test_mean_squared_error_hand_value_and_channel_selection() -> None:
    observed = np.array([[[1.0, 0.0], [2.0, 4.0]]])
    predicted = np.array([[[0.0, 0.0], [2.0, 1.0]]])
    assert mean_squared_error(observed, predicted) == pytest.approx((1 + 0 + 0 + 9) / 4)
    assert mean_squared_error(observed, predicted, np.array([False, True])) == pytest.approx(9 / 2)


def test_k_step_mse_scores_only_the_bins_with_a_forecast() -> None:
    observed = np.arange(6.0).reshape(1, 6, 1)
    one_step = np.full((1, 6, 1), np.nan)
    one_step[0, 2:, 0] = observed[0, 1:5, 0]  # persistence forecast: error 1 in every scored bin
    two_step = np.full((1, 6, 1), np.nan)
    two_step[0, 3:, 0] = observed[0, 1:4, 0]  # error 2 in every scored bin
    assert k_step_prediction_mse(observed, {2: two_step, 1: one_step}) == {1: 1.0, 2: 4.0}


def test_k_step_mse_rejects_empty_or_non_positive_horizons() -> None:
    with pytest.raises(ConfigError, match="at least one horizon"):
        k_step_prediction_mse(np.zeros((1, 3, 1)), {})
    with pytest.raises(ConfigError, match="horizons must be >= 1"):
        k_step_prediction_mse(np.zeros((1, 3, 1)), {0: np.zeros((1, 3, 1))})
