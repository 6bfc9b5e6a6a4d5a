"""Read a derived result file back into plain Python objects, and rebuild its model on demand."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pynwb import NWBHDF5IO

from nwb_dyn.analysis.products import FixedPointSet, GeneratedSamples
from nwb_dyn.errors import OutputError
from nwb_dyn.ndx import DynamicsModel  # importing nwb_dyn.ndx registers our classes before any read
from nwb_dyn.results.containers import SOURCE_OPTIONAL_KEYS
from nwb_dyn.results.rebuild import rebuild_model
from nwb_dyn.results.writer import MODULE_NAME

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class StateSegmentsData:
    """State segments: start_s, stop_s (S,) seconds on the session clock; state, trial (S,) int."""

    start_s: np.ndarray
    stop_s: np.ndarray
    state: np.ndarray
    trial: np.ndarray


@dataclass(frozen=True)
class FitWindows:
    """The fitted windows in time order: start_s, stop_s (B,), trial (B,) int, split (B,) str."""

    start_s: np.ndarray
    stop_s: np.ndarray
    trial: np.ndarray
    split: np.ndarray


@dataclass(frozen=True)
class StoredModel:
    """A model as stored: family, constructor hyperparameters, weights (name → array), summary and metrics."""

    family: str
    hyperparameters: dict[str, Any]
    weights: dict[str, np.ndarray]
    training_summary: dict[str, Any]
    metrics: dict[str, Any]


@dataclass
class FitResult:
    """Everything one fit wrote, as numpy arrays (rows are bins of the time-ordered windows, time first).

    latents: (N, R) with timestamps (N,) s (bin centres, session clock); rates: (N, D) for channel_ids (D,);
    states: (N,) int or None; state_probabilities: (N, K) or None; segments, fixed_points, samples: or None;
    windows: the fitted windows; provenance: source / versions / config / seed / command; stored_model: what
    rebuilds the model; units_ids: ids of the copied source units, or None; held_out: (D,) bool, True for the
    channels the model never read (their rates are co-smoothing predictions), None in files older than ndx-dyn
    0.3.0. ``model`` rebuilds the model (imports torch on first use).
    """

    path: Path
    latents: np.ndarray
    latent_estimate: str
    timestamps: np.ndarray
    rates: np.ndarray
    channel_ids: np.ndarray
    windows: FitWindows
    provenance: dict[str, Any]
    stored_model: StoredModel
    states: np.ndarray | None = None
    num_states: int | None = None
    state_probabilities: np.ndarray | None = None
    segments: StateSegmentsData | None = None
    fixed_points: FixedPointSet | None = None
    samples: GeneratedSamples | None = None
    units_ids: np.ndarray | None = None
    held_out: np.ndarray | None = None

    def per_window(self, rows: np.ndarray) -> np.ndarray:
        """(N, ...) → (B, T, ...): split a per-bin array back into the fitted windows (in time order).

        Windows shorter than the longest (short trials; their padding was never written) are padded again, with
        NaN (floats) or -1 (integers), to T = the longest window's bins.
        """
        num_windows = len(self.windows.start_s)
        first = np.searchsorted(self.timestamps, self.windows.start_s)
        lengths = np.searchsorted(self.timestamps, self.windows.stop_s) - first
        if np.all(lengths == lengths[0]) and lengths.sum() == rows.shape[0]:
            return rows.reshape(num_windows, rows.shape[0] // num_windows, *rows.shape[1:])
        fill = np.nan if np.issubdtype(rows.dtype, np.floating) else -1
        padded = np.full((num_windows, int(lengths.max()), *rows.shape[1:]), fill, dtype=rows.dtype)
        for window, (start, length) in enumerate(zip(first, lengths)):
            padded[window, :length] = rows[start : start + length]
        return padded

    @cached_property
    def model(self) -> torch.nn.Module:
        """The fitted model rebuilt from its stored hyperparameters and weights (eval mode)."""
        stored = self.stored_model
        return rebuild_model(stored.family, stored.hyperparameters, stored.weights, origin=str(self.path))


def _load_json(text: str | None) -> Any:
    return json.loads(text) if text else {}


def _array(series: Any) -> np.ndarray:
    return np.asarray(series.data[:])


def _segments(table: Any) -> StateSegmentsData:
    return StateSegmentsData(
        start_s=np.asarray(table["start_time"].data[:], dtype=np.float64),
        stop_s=np.asarray(table["stop_time"].data[:], dtype=np.float64),
        state=np.asarray(table["state"].data[:], dtype=np.int64),
        trial=np.asarray(table["trial"].data[:], dtype=np.int64),
    )


def _column(table: Any, name: str) -> np.ndarray:
    return np.asarray(table[name].data[:])


def _fixed_point_arrays(table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """location (P, R), eigenvalues (P, R) complex and activation slopes (P, N) int8 or None, from either layout:
    1-D columns per latent dimension (ndx-dyn ≥ 0.2.0) or the 2-D columns of ndx-dyn 0.1.0."""
    columns = set(table.colnames)
    if "location" in columns:  # ndx-dyn 0.1.0
        location = _column(table, "location").astype(np.float64)
        eigenvalues = _column(table, "eigenvalues_real") + 1j * _column(table, "eigenvalues_imag")
        region = _column(table, "region").astype(np.int8) if "region" in columns else None
        return location, eigenvalues, region
    dims = range(int(table.num_latents))
    location = np.column_stack([_column(table, f"location_{i}") for i in dims]).astype(np.float64)
    eigenvalues = np.column_stack(
        [_column(table, f"eigenvalue_{i}_real") + 1j * _column(table, f"eigenvalue_{i}_imag") for i in dims]
    )
    region = None
    if "linear_region" in columns:
        region = np.array(
            [[int(slope) for slope in str(text).split(",")] for text in table["linear_region"].data[:]],
            dtype=np.int8,
        )
    return location, eigenvalues, region


def _fixed_points(table: Any) -> FixedPointSet:
    location, eigenvalues, region = _fixed_point_arrays(table)
    return FixedPointSet(
        location=location,
        stable=np.asarray(table["stable"].data[:], dtype=bool),
        eigenvalues=eigenvalues,
        kind=str(table.kind),
        eigenvalue_reading=str(table.eigenvalue_reading),
        state=np.asarray(table["state"].data[:], dtype=np.int64) if "state" in set(table.colnames) else None,
        region=region,
    )


def _fixed_points_of(objects: Any, rank: int) -> FixedPointSet | None:
    """The fixed-point table; an empty set when the fit found none (no table, ``num_fixed_points`` 0); else None."""
    if "fixed_points" in objects:
        return _fixed_points(objects["fixed_points"])
    if _load_json(objects["model"].metrics).get("num_fixed_points") == 0:
        return FixedPointSet(
            location=np.zeros((0, rank)),
            stable=np.zeros(0, dtype=bool),
            eigenvalues=np.zeros((0, rank), complex),
        )
    return None


def _samples(latents: Any, observations: Any) -> GeneratedSamples:
    runs = int(latents.num_runs)
    values = _array(latents)
    observed = _array(observations)
    return GeneratedSamples(
        latents=values.reshape(runs, values.shape[0] // runs, -1),
        observations=observed.reshape(runs, observed.shape[0] // runs, -1),
        seed=int(latents.seed),
        conditioning=str(latents.conditioning),
    )


def _provenance(record: Any) -> dict[str, Any]:
    source = {"kind": str(record.source_kind), "location": str(record.source_location)}
    source.update(
        {key: str(getattr(record, key)) for key in SOURCE_OPTIONAL_KEYS if getattr(record, key) is not None}
    )
    return {
        "source": source,
        "versions": _load_json(record.versions),
        "config": _load_json(record.config),
        "seed": int(record.seed),
        "command": str(record.command),
    }


def _stored_model(model: DynamicsModel) -> StoredModel:
    return StoredModel(
        family=str(model.family),
        hyperparameters=_load_json(model.hyperparameters),
        weights={name: np.asarray(parameter.data[()]) for name, parameter in model.model_parameters.items()},
        training_summary=_load_json(model.training_summary),
        metrics=_load_json(model.metrics),
    )


def read(path: str | Path, module: str = MODULE_NAME) -> FitResult:
    """Read the nwb-dyn result at ``path`` (processing module ``module``) into a :class:`FitResult`."""
    path = Path(path)
    if not path.is_file():
        raise OutputError(f"result file {path} does not exist; pass the path `nwb-dyn fit` printed")
    try:
        io = NWBHDF5IO(str(path), mode="r")
    except (OSError, ValueError, KeyError) as exc:  # h5py/hdmf on a file that is not HDF5/NWB
        raise OutputError(f"{path} is not a readable NWB file ({type(exc).__name__}: {exc})") from None
    with io:
        nwbfile = io.read()
        if module not in nwbfile.processing or "model" not in nwbfile.processing[module].data_interfaces:
            raise OutputError(
                f"{path} has no nwb-dyn result in processing module '{module}' (no 'model' in it); "
                "pass the module name the fit wrote"
            )
        objects = nwbfile.processing[module].data_interfaces
        latents = objects["latents"]
        windows = objects["fit_windows"]
        return FitResult(
            path=path,
            latents=_array(latents),
            latent_estimate=str(latents.estimate),
            timestamps=np.asarray(latents.get_timestamps(), dtype=np.float64),
            rates=_array(objects["rates"]),
            channel_ids=np.asarray(objects["rates"].channel_ids[:], dtype=np.int64),
            windows=FitWindows(
                start_s=np.asarray(windows["start_time"].data[:], dtype=np.float64),
                stop_s=np.asarray(windows["stop_time"].data[:], dtype=np.float64),
                trial=np.asarray(windows["trial"].data[:], dtype=np.int64),
                split=np.asarray(windows["data_split"].data[:]).astype(str),
            ),
            provenance=_provenance(objects["provenance"]),
            stored_model=_stored_model(objects["model"]),
            states=_array(objects["states"]).astype(np.int64) if "states" in objects else None,
            num_states=int(objects["states"].num_states) if "states" in objects else None,
            state_probabilities=_array(objects["state_probabilities"])
            if "state_probabilities" in objects
            else None,
            segments=_segments(objects["state_segments"]) if "state_segments" in objects else None,
            fixed_points=_fixed_points_of(objects, latents.data.shape[1]),
            samples=(
                _samples(objects["generated_latents"], objects["generated_observations"])
                if "generated_latents" in objects
                else None
            ),
            units_ids=np.asarray(nwbfile.units.id[:], dtype=np.int64) if nwbfile.units is not None else None,
            held_out=_held_out(objects["rates"]),
        )


def _held_out(rates: Any) -> np.ndarray | None:
    """(D,) bool held-out flags of the rates' columns, or None when the file predates them (ndx-dyn < 0.3.0)."""
    held_out = getattr(rates, "held_out", None)
    return None if held_out is None else np.asarray(held_out[:], dtype=bool)
