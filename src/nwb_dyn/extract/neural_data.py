"""`NeuralData`: the plain-numpy hand-off from NWB extraction to modelling (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nwb_dyn.extract.session import SessionInfo


@dataclass
class NeuralData:
    """Model-ready windows of one session.

    Attributes:
        values: (B, T, D) float32 — spike counts per bin, or a continuous signal resampled to the bins.
        mask: (B, T, D) bool — True where the bin was observed (False outside a unit's ``obs_intervals``).
        bin_start_s: (B, T) float64 — start time of every bin, seconds on the source session's clock.
        bin_width_s: bin width in seconds.
        trial_ids: (B,) int64 — id of the trial (or window index) each row came from.
        window_intervals_s: (B, 2) float64 — start and stop of each window's data on the session clock. A window
            shorter than T bins (a short trial among longer ones) stops before its last bin: the bins after its stop
            are padding, unobserved in ``mask`` (see :attr:`in_window`).
        channel_ids: (D,) int64 — unit ids (Units table ``id``), or the electrode / ROI ids behind a series' columns
            (column indices when the series links none).
        observation: ``"counts"`` (Poisson-like) or ``"continuous"`` (Gaussian-like).
        data_path: where in the NWB file the data came from (``"units"`` or a series path).
        split: (B,) str — ``"train"`` or ``"val"`` per window.
        held_out: (D,) bool — channels hidden from the encoder and scored by co-smoothing.
        inputs: (B, T, D_u) float32 or None — external inputs on the same bins.
        targets: (B, T, P) float32 or None — behaviour targets for decoding metrics.
        input_names, target_names: paths of the series behind ``inputs`` / ``targets``.
        session: metadata to carry into the derived file.
        modality: DANDI modality of the fitted data (``"ecephys"``, ``"ophys"``, ``"icephys"``, ``"behavior"``,
            ``"image"`` or ``"misc"``), used in the derived file's name.
        settings: the extraction settings that produced this (for provenance and cache keys), with the reason the data
            was chosen and, for z-scored series, the per-channel mean and std.
    """

    values: np.ndarray
    mask: np.ndarray
    bin_start_s: np.ndarray
    bin_width_s: float
    trial_ids: np.ndarray
    window_intervals_s: np.ndarray
    channel_ids: np.ndarray
    observation: str
    data_path: str
    split: np.ndarray
    held_out: np.ndarray
    session: SessionInfo
    inputs: np.ndarray | None = None
    targets: np.ndarray | None = None
    input_names: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    modality: str = "ecephys"

    @property
    def num_windows(self) -> int:
        return int(self.values.shape[0])

    @property
    def num_bins(self) -> int:
        return int(self.values.shape[1])

    @property
    def num_channels(self) -> int:
        return int(self.values.shape[2])

    @property
    def in_window(self) -> np.ndarray:
        """(B, T) bool: True for the bins inside their window, False for the padding after a shorter window."""
        tolerance = 1e-6 * self.bin_width_s
        return self.bin_start_s < self.window_intervals_s[:, 1:] - tolerance

    @property
    def bins_of_data(self) -> np.ndarray:
        """(B,) int64: how many bins of each window are inside it (T for every window of equal-length data)."""
        return self.in_window.sum(axis=1).astype(np.int64)

    @property
    def held_in_mask(self) -> np.ndarray:
        """(B, T, D) bool: the entries an encoder or a posterior may read — observed, on channels not held out.

        The one place of the held-out rule: training, validation, posteriors, forecasts and metrics all read
        held-out channels only through the model's predictions.
        """
        return self.mask & ~self.held_out[None, None, :]

    @property
    def observation_unit(self) -> str:
        """The unit of the observations in the source: ``"spikes/bin"`` for counts, else the series' own unit."""
        return "spikes/bin" if self.observation == "counts" else str(self.settings.get("unit") or "a.u.")

    def in_source_units(self, values: np.ndarray) -> np.ndarray:
        """``values`` (..., D) in the units the model sees mapped to the source series' units: for a z-scored series
        ``values · std + mean`` per channel (``settings["zscore_mean"]``, ``["zscore_std"]``); else unchanged."""
        stats = self._zscore_stats()
        return values if stats is None else (values * stats[1] + stats[0]).astype(values.dtype)

    def in_model_units(self, values: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`in_source_units`: source-unit ``values`` (..., D) in the units the model sees."""
        stats = self._zscore_stats()
        return values if stats is None else ((values - stats[0]) / stats[1]).astype(values.dtype)

    def _zscore_stats(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-channel (mean, std), each (D,), the extraction z-scored the series with; None when it did not."""
        if "zscore_mean" not in self.settings:
            return None
        return np.asarray(self.settings["zscore_mean"]), np.asarray(self.settings["zscore_std"])

    def split_indices(self, name: str) -> np.ndarray:
        """Row indices of the windows in split ``name`` (``"train"`` or ``"val"``)."""
        return np.flatnonzero(self.split == name)
