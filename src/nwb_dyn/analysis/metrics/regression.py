"""Coefficient of determination and ridge regression, in plain numpy.

These are the two pieces the NLB behaviour and PSTH metrics need (the NLB reference uses scikit-learn's
``r2_score`` and ``GridSearchCV(Ridge())``); writing them here keeps the metrics free of scikit-learn.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nwb_dyn.errors import ConfigError


def r2_per_output(targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Coefficient of determination of each output column.

    ``R²_j = 1 − Σ_n (y_nj − ŷ_nj)² / Σ_n (y_nj − ȳ_j)²`` for targets and predictions of shape (N, P).
    A constant target column (zero denominator) scores 1 when predicted exactly and 0 otherwise, as scikit-learn's
    ``r2_score`` does, so the average over outputs stays finite. Returns (P,).
    """
    residual = np.sum((targets - predictions) ** 2, axis=0)
    total = np.sum((targets - targets.mean(axis=0)) ** 2, axis=0)
    scores = np.where(residual == 0.0, 1.0, 0.0)
    varying = total > 0.0
    scores[varying] = 1.0 - residual[varying] / total[varying]
    return scores


def r2_uniform_average(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Mean over output columns of :func:`r2_per_output`; targets and predictions (N, P)."""
    return float(np.mean(r2_per_output(targets, predictions)))


class RidgeFit(NamedTuple):
    """A fitted ridge regression ``ŷ = x @ weights + intercept``; weights (F, P), intercept (P,)."""

    weights: np.ndarray
    intercept: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predictions (N, P) for features (N, F)."""
        return features @ self.weights + self.intercept


def fit_ridge(features: np.ndarray, targets: np.ndarray, alpha: float) -> RidgeFit:
    """Ridge regression with an unpenalised intercept (scikit-learn's ``Ridge(alpha)`` objective).

    Minimises ``‖Y − X W − 1 bᵀ‖² + alpha ‖W‖²`` for features X (N, F) and targets Y (N, P) by centring both and
    solving ``(Xcᵀ Xc + alpha I) W = Xcᵀ Yc``; the intercept is then ``ȳ − x̄ W``.
    """
    feature_mean = features.mean(axis=0)
    target_mean = targets.mean(axis=0)
    centred_features = features - feature_mean
    centred_targets = targets - target_mean
    gram = centred_features.T @ centred_features + alpha * np.eye(features.shape[1])
    # lstsq rather than solve: with alpha -> 0 and collinear features (silent neurons) the Gram matrix is singular.
    weights = np.linalg.lstsq(gram, centred_features.T @ centred_targets, rcond=None)[0]
    return RidgeFit(weights=weights, intercept=target_mean - feature_mean @ weights)


def contiguous_folds(n_items: int, n_folds: int) -> list[np.ndarray]:
    """Indices of ``n_folds`` contiguous folds of ``range(n_items)``, the first ``n_items % n_folds`` one longer
    (scikit-learn's unshuffled ``KFold``)."""
    if n_items < n_folds:
        raise ConfigError(f"cross-validation needs at least {n_folds} samples; got {n_items}. Pass more trials")
    return list(np.array_split(np.arange(n_items), n_folds))


def select_ridge_alpha(
    features: np.ndarray, targets: np.ndarray, alphas: np.ndarray, n_folds: int = 5
) -> float:
    """Ridge penalty with the best mean validation R² over ``n_folds`` contiguous folds of the samples.

    features (N, F), targets (N, P): one row per bin, trials concatenated in order. This is NLB's
    ``GridSearchCV(Ridge(), {"alpha": alphas})`` with its default 5-fold, unshuffled ``KFold`` over bins (a fold
    boundary may cut one trial) and ``r2_score`` averaged over outputs; ties go to the first alpha, as there.
    """
    folds = contiguous_folds(features.shape[0], n_folds)
    mean_scores = []
    for alpha in alphas.tolist():
        scores = []
        for validation_rows in folds:
            training_rows = np.setdiff1d(np.arange(features.shape[0]), validation_rows)
            model = fit_ridge(features[training_rows], targets[training_rows], float(alpha))
            scores.append(r2_uniform_average(targets[validation_rows], model.predict(features[validation_rows])))
        mean_scores.append(np.mean(scores))
    return float(alphas[int(np.argmax(mean_scores))])


def fit_ridge_cross_validated(
    features: np.ndarray, targets: np.ndarray, alphas: np.ndarray, n_folds: int = 5
) -> RidgeFit:
    """Ridge decoder features (N, F) -> targets (N, P), its penalty chosen by :func:`select_ridge_alpha` and then
    refitted on every row (``GridSearchCV``'s refit)."""
    alpha = select_ridge_alpha(features, targets, alphas, n_folds)
    return fit_ridge(features, targets, alpha)


def flatten_bins(array: np.ndarray) -> np.ndarray:
    """(B, T, C) -> (B*T, C): the decoders treat every bin of every trial as one sample."""
    return array.reshape(-1, array.shape[-1])
