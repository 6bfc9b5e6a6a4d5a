"""Deterministic train/validation splits and held-out units."""

from __future__ import annotations

import numpy as np


def train_val_split(
    num_windows: int, validation_fraction: float, seed: int, split_column: np.ndarray | None
) -> np.ndarray:
    """(B,) array of ``"train"``/``"val"``.

    The NWB ``split`` column decides where it says ``train`` or ``val``; other rows (and all rows without the column)
    are split by a seeded permutation, so the same seed always gives the same split. At least one window is kept for
    training and, when there are two or more windows and the fraction is non-zero, one for validation.
    """
    split = np.full(num_windows, "", dtype=object)
    if split_column is not None:
        labels = np.asarray(split_column).astype(str)
        split[labels == "train"] = "train"
        split[labels == "val"] = "val"
    undecided = np.flatnonzero(split == "")
    if len(undecided):
        order = np.random.default_rng(seed).permutation(undecided)
        num_val = round(validation_fraction * len(undecided))
        if validation_fraction > 0 and num_windows >= 2:
            num_val = max(num_val, 1)
        num_val = min(num_val, len(undecided) - (0 if np.any(split == "train") else 1))
        split[order[:num_val]] = "val"
        split[order[num_val:]] = "train"
    return split.astype(str)


def held_out_channels(
    num_channels: int, heldout_fraction: float, seed: int, heldout_column: np.ndarray | None
) -> np.ndarray:
    """(D,) bool: the ``heldout`` column when it marks any unit, else a seeded random ``heldout_fraction`` of channels.

    A column that holds out nothing (as in the NLB test splits, where it is all False) carries no choice, so the
    fraction applies rather than silently holding out no unit.
    """
    if heldout_column is not None and np.asarray(heldout_column).astype(bool).any():
        return np.asarray(heldout_column).astype(bool)
    held_out = np.zeros(num_channels, dtype=bool)
    count = round(heldout_fraction * num_channels)
    if count:
        chosen = np.random.default_rng(seed + 1).choice(num_channels, size=count, replace=False)
        held_out[chosen] = True
    return held_out
