"""NWB session → :class:`NeuralData` (spike counts in trial or tiled windows)."""

from __future__ import annotations

import numpy as np
from pynwb import NWBFile

from nwb_dyn.config import DataConfig
from nwb_dyn.errors import ExtractionError
from nwb_dyn.extract.neural_data import NeuralData
from nwb_dyn.extract.session import SessionInfo, read_session_info
from nwb_dyn.extract.spikes import bin_spike_counts, observed_mask
from nwb_dyn.extract.splits import held_out_channels, train_val_split
from nwb_dyn.extract.units import UnitsData, read_units
from nwb_dyn.extract.windows import tiled_windows, trial_windows


def _windows(
    session: SessionInfo, units: UnitsData, settings: DataConfig, label: str
) -> tuple[np.ndarray, np.ndarray, int]:
    if "start_time" in session.trials and len(session.trials["start_time"]) > 0:
        return trial_windows(session, settings.bin_width_s, settings.align, settings.window_s, label)
    if settings.align is not None:
        raise ExtractionError(f"{label} has no trials table, so --align {settings.align} cannot be used")
    if units.obs_intervals is not None and any(len(i) for i in units.obs_intervals):
        bounds = np.concatenate([i for i in units.obs_intervals if len(i)])
        start, stop = float(bounds[:, 0].min()), float(bounds[:, 1].max())
    else:
        everything = np.concatenate([t for t in units.spike_times if len(t)])
        start, stop = float(everything.min()), float(everything.max())
    return tiled_windows(start, stop, settings.bin_width_s, settings.window_length_s, label)


def extract_neural_data(nwbfile: NWBFile, settings: DataConfig, seed: int, label: str) -> NeuralData:
    """Bin the Units table of ``nwbfile`` into windows ready for fitting.

    ``label`` names the source in error messages. Windows come from the trials table when there is one, else tile
    the observed time. Splits and held-out units are deterministic given ``seed``.
    """
    if nwbfile.units is None:
        has_series = bool(nwbfile.acquisition) or any(len(m.data_interfaces) for m in nwbfile.processing.values())
        hint = "pass --series PATH to fit a continuous series" if has_series else "it holds no spikes and no series"
        raise ExtractionError(f"{label} has no Units table and nothing else fittable was chosen; {hint}")
    units = read_units(nwbfile, label)
    session = read_session_info(nwbfile, include_spikes=False)
    session.units_ids = units.ids
    session.units_spike_times = units.spike_times
    window_starts, trial_ids, num_bins = _windows(session, units, settings, label)
    counts = bin_spike_counts(units.spike_times, window_starts, num_bins, settings.bin_width_s)
    mask = observed_mask(units.obs_intervals, window_starts, num_bins, settings.bin_width_s, len(units.ids))
    if not mask.any():
        raise ExtractionError(
            f"{label}: no bin of any window lies inside the units' obs_intervals; check --align/--window"
        )
    counts[~mask] = 0.0
    from_trials = "start_time" in session.trials and len(session.trials["start_time"]) > 0
    split_column = session.trials["split"][trial_ids] if from_trials and "split" in session.trials else None
    bin_start_s = window_starts[:, None] + np.arange(num_bins)[None, :] * settings.bin_width_s
    return NeuralData(
        values=counts,
        mask=mask,
        bin_start_s=bin_start_s,
        bin_width_s=settings.bin_width_s,
        trial_ids=trial_ids,
        window_intervals_s=np.stack([window_starts, window_starts + num_bins * settings.bin_width_s], axis=1),
        channel_ids=units.ids,
        observation="counts",
        data_path="units",
        split=train_val_split(len(window_starts), settings.validation_fraction, seed, split_column),
        held_out=held_out_channels(len(units.ids), settings.heldout_fraction, seed, units.heldout),
        session=session,
        settings={
            "bin_width_s": settings.bin_width_s,
            "align": settings.align,
            "window_s": settings.window_s,
            "window_length_s": settings.window_length_s,
            "data_path": "units",
        },
    )
