"""Shape checks shared by the metric functions.

The metrics take arrays straight from a fit or from a user's own code; a wrong shape there is the caller's mistake,
so it is reported as a :class:`~nwb_dyn.errors.ConfigError` that names the argument and the shape it needs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from nwb_dyn.errors import ConfigError


def as_batch_time_channel(array: np.ndarray, name: str, keep_float_dtype: bool = False) -> np.ndarray:
    """Return ``array`` as float64 (B, T, D); a (T, D) array is read as one trajectory (1, T, D).

    ``keep_float_dtype``: a float32 array stays float32 (no copy), for the metrics that only sum over entries and
    accumulate in float64 themselves; a whole session's (B, T, D) in float64 is GBs.
    """
    values = np.asarray(array)
    if not (keep_float_dtype and values.dtype in (np.float32, np.float64)):
        values = values.astype(np.float64, copy=False)
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise ConfigError(
            f"metric input '{name}' has shape {values.shape}; pass a (B, T, D) array "
            "(trials x time bins x channels) or a single (T, D) trajectory"
        )
    return values


def require_same_shape(first: np.ndarray, second: np.ndarray, first_name: str, second_name: str) -> None:
    """Raise ConfigError unless the two arrays have identical shapes."""
    if first.shape != second.shape:
        raise ConfigError(
            f"metric inputs '{first_name}' {first.shape} and '{second_name}' {second.shape} must have the same "
            "shape; pass arrays for the same trials, bins and channels"
        )


def require_channel_mask(mask: np.ndarray, n_channels: int, name: str) -> np.ndarray:
    """Return ``mask`` as a boolean (D,) vector with at least one True entry, or raise ConfigError."""
    values = np.asarray(mask)
    if values.dtype != np.bool_ or values.shape != (n_channels,):
        raise ConfigError(
            f"metric input '{name}' must be a boolean mask of shape ({n_channels},) (one entry per channel); "
            f"got dtype {values.dtype} and shape {values.shape}"
        )
    if not values.any():
        raise ConfigError(f"metric input '{name}' selects no channel; mark at least one channel True")
    return values


def require_labels(labels: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return integer labels of the given shape (negative = unlabelled), or raise ConfigError."""
    values = np.asarray(labels)
    if values.shape != shape:
        raise ConfigError(f"metric input '{name}' has shape {values.shape}; it needs shape {shape}")
    if not np.issubdtype(values.dtype, np.integer):
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise ConfigError(
                f"metric input '{name}' must hold integer labels (negative for unlabelled bins)"
            )
        values = values.astype(np.int64)
    return values.astype(np.int64)


#: Entries a metric converts to float64 at once (16 MiB per float64 temporary): a whole session's (B, T, D) in
#: float64 is GBs, so sums over it are taken a few rows at a time.
ENTRIES_PER_CHUNK = 1 << 21


def row_chunks(array: np.ndarray) -> Iterator[slice]:
    """Slices of ``array``'s first axis holding about :data:`ENTRIES_PER_CHUNK` entries each (at least one row)."""
    per_row = max(1, int(np.prod(array.shape[1:])))
    size = max(1, ENTRIES_PER_CHUNK // per_row)
    return (slice(first, first + size) for first in range(0, array.shape[0], size))


def finite_channel_sums(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel float64 sums (D,) of the finite entries of (B, T, D) and how many there are (D,), a few rows at
    a time (no float64 copy of the whole array)."""
    sums, counts = np.zeros(array.shape[-1]), np.zeros(array.shape[-1])
    for rows in row_chunks(array):
        sums += np.nansum(array[rows], axis=(0, 1), dtype=np.float64)
        counts += np.isfinite(array[rows]).sum(axis=(0, 1))
    return sums, counts
