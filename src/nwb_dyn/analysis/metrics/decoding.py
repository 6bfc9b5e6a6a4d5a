"""Behaviour decoding R² (NLB's "vel R²"): ridge decoders from rates or latents to a behaviour target.

Features are (B, T, F) rates or latents, targets (B, T, P) behaviour (hand velocity, position). The decoder is NLB's
(``nlb_tools.evaluation.fit_and_eval_decoder``): every bin of every trial is one sample, bins whose behaviour is
missing (NaN, e.g. the padding after a short trial) are left out on both sides, the ridge penalty is chosen from
``logspace(-4, 0, 9)`` by 5-fold unshuffled cross-validation over the training bins, the decoder is refitted on all
of them, and R² is averaged over the target dimensions.
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

#: NLB's ridge grid for velocity decoding (``GridSearchCV(Ridge(), {"alpha": np.logspace(-4, 0, 9)})``).
DEFAULT_RIDGE_ALPHAS = np.logspace(-4, 0, 9)


def decoding_r2(
    train_features: np.ndarray,
    train_targets: np.ndarray,
    eval_features: np.ndarray,
    eval_targets: np.ndarray,
    alphas: np.ndarray = DEFAULT_RIDGE_ALPHAS,
    n_folds: int = 5,
) -> float:
    """R² of a ridge decoder from features (rates or latents) to a behaviour target such as hand velocity.

    NLB's definition (see the module docstring). train_features (B_tr, T, F), train_targets (B_tr, T, P),
    eval_features (B_ev, T', F), eval_targets (B_ev, T', P); bins with a non-finite target are left out.
    """
    train_rows, train_values = _bins_with_behaviour(train_features, train_targets, "train")
    eval_rows, eval_values = _bins_with_behaviour(eval_features, eval_targets, "eval")
    if train_rows.shape[-1] != eval_rows.shape[-1]:
        raise ConfigError("decoder training and evaluation features must have the same number of channels")
    decoder = fit_ridge_cross_validated(train_rows, train_values, np.asarray(alphas, dtype=np.float64), n_folds)
    return r2_uniform_average(eval_values, decoder.predict(eval_rows))


def cross_validated_decoding_r2(
    features: np.ndarray,
    targets: np.ndarray,
    alphas: np.ndarray = DEFAULT_RIDGE_ALPHAS,
    n_folds: int = 5,
) -> float:
    """Decoding R² when no separate training split exists: every trial is predicted by a decoder fitted without it.

    Not an NLB number (NLB always has a training split): the trials are cut into ``n_folds`` contiguous folds; each
    fold's bins are predicted by NLB's decoder (:func:`decoding_r2`'s) fitted on the other folds, and R² (averaged
    over target dimensions) is computed once on the pooled out-of-fold predictions. features (B, T, F),
    targets (B, T, P); bins with a non-finite target are left out.
    """
    features, targets = _same_bins(features, targets, "")
    alphas = np.asarray(alphas, dtype=np.float64)
    observed, predicted = [], []
    for held_trials in contiguous_folds(features.shape[0], n_folds):
        fitting_trials = np.setdiff1d(np.arange(features.shape[0]), held_trials)
        decoder = fit_ridge_cross_validated(
            *_bins_with_behaviour(features[fitting_trials], targets[fitting_trials], "train"), alphas, n_folds
        )
        rows, values = _bins_with_behaviour(features[held_trials], targets[held_trials], "eval")
        observed.append(values)
        predicted.append(decoder.predict(rows))
    return r2_uniform_average(np.concatenate(observed), np.concatenate(predicted))


def _same_bins(features: np.ndarray, targets: np.ndarray, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    features = as_batch_time_channel(features, f"{prefix}features")
    targets = as_batch_time_channel(targets, f"{prefix}targets")
    if features.shape[:2] != targets.shape[:2]:
        raise ConfigError("decoder features and targets must share their trial and time axes (B, T)")
    return features, targets


def _bins_with_behaviour(features: np.ndarray, targets: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) features and (N, P) targets of the bins of features (B, T, F), targets (B, T, P) whose target is finite.

    As NLB, a bin without behaviour is dropped; a bin with behaviour must have finite features.
    """
    features, targets = _same_bins(features, targets, f"{side}_")
    rows, values = flatten_bins(features), flatten_bins(targets)
    kept = np.all(np.isfinite(values), axis=1)
    if not kept.any():
        raise ConfigError(f"the {side} behaviour targets have no finite bin to decode")
    if not np.all(np.isfinite(rows[kept])):
        raise ConfigError(f"decoder {side} features (rates or latents) must be finite wherever behaviour is recorded")
    return rows[kept], values[kept]
