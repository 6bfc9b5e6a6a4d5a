"""R², ridge regression and behaviour decoding against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_dyn.analysis.metrics import cross_validated_decoding_r2, decoding_r2, fit_ridge, r2_per_output
from nwb_dyn.errors import ConfigError


def test_r2_per_output_hand_values_and_constant_columns() -> None:
    targets = np.array([[1.0, 5.0, 2.0], [2.0, 5.0, 2.0], [3.0, 5.0, 2.0]])
    predictions = np.array([[1.0, 5.0, 2.0], [3.0, 4.0, 2.0], [3.0, 5.0, 2.0]])
    # Column 0: SS_res = 1, SS_tot = 2 -> 0.5; column 1 constant and missed -> 0; column 2 constant and hit -> 1.
    np.testing.assert_allclose(r2_per_output(targets, predictions), [0.5, 0.0, 1.0])


def test_ridge_matches_the_augmented_least_squares_solution() -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(30, 4))
    targets = features @ rng.normal(size=(4, 2)) + 1.5 + 0.1 * rng.normal(size=(30, 2))
    alpha = 2.5
    fit = fit_ridge(features, targets, alpha)
    # Oracle: minimise ‖Y − [X 1][W; b]‖² + alpha ‖W‖² by stacking sqrt(alpha) I rows (bias unpenalised).
    design = np.hstack([features, np.ones((30, 1))])
    penalty_rows = np.hstack([np.sqrt(alpha) * np.eye(4), np.zeros((4, 1))])
    solution = np.linalg.lstsq(
        np.vstack([design, penalty_rows]), np.vstack([targets, np.zeros((4, 2))]), rcond=None
    )[0]
    np.testing.assert_allclose(fit.weights, solution[:4], atol=1e-10)
    np.testing.assert_allclose(fit.intercept, solution[4], atol=1e-10)


def test_decoding_recovers_a_linear_target_and_not_noise() -> None:
    rng = np.random.default_rng(4)
    features = rng.normal(size=(20, 15, 6))
    velocity = features @ rng.normal(size=(6, 2))
    r2 = decoding_r2(features[:14], velocity[:14], features[14:], velocity[14:])
    assert r2 == pytest.approx(1.0, abs=1e-4)
    noise = rng.normal(size=(20, 15, 2))
    assert cross_validated_decoding_r2(features, noise) < 0.05
    assert cross_validated_decoding_r2(features, velocity + 0.01 * noise) > 0.99


def test_decoding_rejects_missing_training_behaviour() -> None:
    features = np.ones((6, 3, 2))
    targets = np.ones((6, 3, 1))
    targets[0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match="drop trials with missing behaviour"):
        decoding_r2(features, targets, features, targets)
