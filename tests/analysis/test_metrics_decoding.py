"""R², ridge regression and behaviour decoding against closed forms."""

from __future__ import annotations

import itertools

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


def test_bins_without_behaviour_are_left_out_as_in_nlb() -> None:
    rng = np.random.default_rng(5)
    features = rng.normal(size=(12, 10, 3))
    targets = features @ rng.normal(size=(3, 2)) + 0.3 * rng.normal(size=(12, 10, 2))
    padded_targets = targets.copy()
    padded_targets[[2, 9], 6:] = np.nan  # the padding after two short trials
    padded_features = features.copy()
    padded_features[[2, 9], 6:] = 1e6  # predictions there are not looked at
    kept = np.isfinite(padded_targets[..., 0])
    expected = _nlb_decoding_oracle(
        features[:8][kept[:8]], targets[:8][kept[:8]], features[8:][kept[8:]], targets[8:][kept[8:]], NLB_ALPHAS
    )
    got = decoding_r2(padded_features[:8], padded_targets[:8], padded_features[8:], padded_targets[8:])
    assert got == pytest.approx(expected, rel=1e-10)
    features[0, 0, 0] = np.nan  # a missing feature where behaviour exists is an error
    with pytest.raises(ConfigError, match="must be finite wherever behaviour is recorded"):
        decoding_r2(features, targets, features, targets)


#: nlb_tools.evaluation.fit_and_eval_decoder: GridSearchCV(Ridge(), {"alpha": np.logspace(-4, 0, 9)}).
NLB_ALPHAS = np.logspace(-4, 0, 9)


def _ridge_oracle(features: np.ndarray, targets: np.ndarray, alpha: float) -> np.ndarray:
    """(F + 1, P) weights and intercept of sklearn's Ridge(alpha) by augmented least squares."""
    count, width = features.shape
    data_rows = np.hstack([features, np.ones((count, 1))])
    penalty_rows = np.hstack([np.sqrt(alpha) * np.eye(width), np.zeros((width, 1))])  # intercept unpenalised
    design = np.vstack([data_rows, penalty_rows])
    stacked = np.vstack([targets, np.zeros((width, targets.shape[1]))])
    return np.linalg.lstsq(design, stacked, rcond=None)[0]


def _r2_score_oracle(targets: np.ndarray, predictions: np.ndarray) -> float:
    """sklearn's r2_score, multioutput 'uniform_average' (all target columns vary in these tests)."""
    residual = ((targets - predictions) ** 2).sum(axis=0)
    total = ((targets - targets.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1.0 - residual / total))


def _nlb_decoding_oracle(
    train_x: np.ndarray, train_y: np.ndarray, eval_x: np.ndarray, eval_y: np.ndarray, alphas: np.ndarray
) -> float:
    """NLB's decoder written out step by step: 5-fold unshuffled KFold over bins (the first n % 5 folds one bin
    longer), mean fold R² per alpha, first best alpha, refit on all training bins, R² on the evaluation bins."""
    count = len(train_x)
    sizes = np.full(5, count // 5) + (np.arange(5) < count % 5)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    mean_scores = []
    for alpha in alphas:
        scores = []
        for first, stop in itertools.pairwise(bounds):
            fitting = np.r_[0:first, stop:count]
            solution = _ridge_oracle(train_x[fitting], train_y[fitting], alpha)
            predictions = train_x[first:stop] @ solution[:-1] + solution[-1]
            scores.append(_r2_score_oracle(train_y[first:stop], predictions))
        mean_scores.append(np.mean(scores))
    solution = _ridge_oracle(train_x, train_y, alphas[int(np.argmax(mean_scores))])
    return _r2_score_oracle(eval_y, eval_x @ solution[:-1] + solution[-1])


def _noisy_decoding_case() -> tuple[np.ndarray, ...]:
    """Few noisy trials with collinear features: the best penalty lies above NLB's grid (alpha > 1), so the grid
    matters. 7 trials of 9 bins: 63 training bins, so KFold folds do not align with trials (13, 13, 13, 12, 12)."""
    rng = np.random.default_rng(11)
    latent = rng.normal(size=(10, 9, 2))
    features = np.concatenate([latent, latent + 0.05 * rng.normal(size=(10, 9, 2))], axis=2)
    features = features + 0.8 * rng.normal(size=features.shape)
    targets = latent @ np.array([[1.0, -0.5], [0.3, 0.8]]) + 1.5 * rng.normal(size=(10, 9, 2))
    return features[:7], targets[:7], features[7:], targets[7:]


def test_decoding_r2_is_nlbs_definition_on_a_hand_made_case() -> None:
    train_x, train_y, eval_x, eval_y = _noisy_decoding_case()
    flat = [array.reshape(-1, array.shape[-1]) for array in (train_x, train_y, eval_x, eval_y)]
    expected = _nlb_decoding_oracle(*flat, NLB_ALPHAS)
    assert decoding_r2(train_x, train_y, eval_x, eval_y) == pytest.approx(expected, rel=1e-10)
    # The grid matters here: the old logspace(-3, 3, 7) grid gives another number, so this test can fail.
    assert abs(_nlb_decoding_oracle(*flat, np.logspace(-3, 3, 7)) - expected) > 1e-4


def test_decoding_r2_equals_scikit_learns_grid_search_when_installed() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    model_selection = pytest.importorskip("sklearn.model_selection")
    train_x, train_y, eval_x, eval_y = _noisy_decoding_case()
    search = model_selection.GridSearchCV(linear_model.Ridge(), {"alpha": NLB_ALPHAS})
    search.fit(train_x.reshape(-1, 4), train_y.reshape(-1, 2))
    expected = search.score(eval_x.reshape(-1, 4), eval_y.reshape(-1, 2))
    assert decoding_r2(train_x, train_y, eval_x, eval_y) == pytest.approx(expected, rel=1e-8)
