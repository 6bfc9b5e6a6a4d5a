"""Behaviour decoding R² (NLB's "vel R²"): ridge decoders from rates or latents to a behaviour target.

Features are (B, T, F) rates or latents, targets (B, T, P) behaviour (hand velocity, position); every bin of every
trial is one sample, and the ridge penalty is chosen by cross-validation over whole trials.
"""

from __future__ import annotations

import numpy as np

from nwb_dyn.analysis.metrics._validation import as_batch_time_channel
from nwb_dyn.analysis.metrics.regression import (
    contiguous_folds,
    fit_ridge_cross_validated,
    flatten_bins,
    r2_uniform_average,
)
from nwb_dyn.errors import ConfigError

# NLB's ridge grid for velocity decoding.
DEFAULT_RIDGE_ALPHAS = np.logspace(-3, 3, 7)


def decoding_r2(
    train_features: np.ndarray,
    train_targets: np.ndarray,
    eval_features: np.ndarray,
    eval_targets: np.ndarray,
    alphas: np.ndarray = DEFAULT_RIDGE_ALPHAS,
    n_folds: int = 5,
) -> float:
    """R² of a ridge decoder from features (rates or latents) to a behaviour target such as hand velocity.

    The penalty is chosen from ``alphas`` by ``n_folds``-fold cross-validation over the training trials, the decoder
    is refitted on all training bins, and R² (averaged over target dimensions) is computed on every evaluation bin.
    train_features (B_tr, T, F), train_targets (B_tr, T, P), eval_features (B_ev, T', F), eval_targets (B_ev, T', P).
    Evaluation bins with a non-finite target are dropped.
    """
    train_features, train_targets = _training_pair(train_features, train_targets)
    eval_features = as_batch_time_channel(eval_features, "eval_features")
    eval_targets = as_batch_time_channel(eval_targets, "eval_targets")
    if eval_features.shape[:2] != eval_targets.shape[:2]:
        raise ConfigError("decoder features and targets must share their trial and time axes (B, T)")
    if train_features.shape[-1] != eval_features.shape[-1]:
        raise ConfigError("decoder training and evaluation features must have the same number of channels")
    decoder = fit_ridge_cross_validated(
        train_features, train_targets, np.asarray(alphas, dtype=np.float64), n_folds
    )
    flat_targets = flatten_bins(eval_targets)
    kept = np.all(np.isfinite(flat_targets), axis=1)
    return r2_uniform_average(flat_targets[kept], decoder.predict(flatten_bins(eval_features)[kept]))


def cross_validated_decoding_r2(
    features: np.ndarray,
    targets: np.ndarray,
    alphas: np.ndarray = DEFAULT_RIDGE_ALPHAS,
    n_folds: int = 5,
) -> float:
    """Decoding R² when no separate training split exists: every trial is predicted by a decoder fitted without it.

    The trials are cut into ``n_folds`` contiguous folds; for each fold a ridge decoder (penalty chosen by inner
    cross-validation on the other folds) predicts the fold's bins, and R² (averaged over target dimensions) is
    computed once on the pooled out-of-fold predictions. features (B, T, F), targets (B, T, P), finite.
    """
    features, targets = _training_pair(features, targets)
    alphas = np.asarray(alphas, dtype=np.float64)
    predictions = np.empty_like(targets)
    for held_trials in contiguous_folds(features.shape[0], n_folds):
        fitting_trials = np.setdiff1d(np.arange(features.shape[0]), held_trials)
        decoder = fit_ridge_cross_validated(
            features[fitting_trials], targets[fitting_trials], alphas, n_folds
        )
        predictions[held_trials] = decoder.predict(flatten_bins(features[held_trials])).reshape(
            targets[held_trials].shape
        )
    return r2_uniform_average(flatten_bins(targets), flatten_bins(predictions))


def _training_pair(features: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (B, T, F) and targets (B, T, P) to fit a decoder on: same trials and bins, all finite."""
    features = as_batch_time_channel(features, "train_features")
    targets = as_batch_time_channel(targets, "train_targets")
    if features.shape[:2] != targets.shape[:2]:
        raise ConfigError("decoder features and targets must share their trial and time axes (B, T)")
    if not (np.all(np.isfinite(targets)) and np.all(np.isfinite(features))):
        raise ConfigError(
            "decoder training features and targets must be finite; drop trials with missing behaviour"
        )
    return features, targets
