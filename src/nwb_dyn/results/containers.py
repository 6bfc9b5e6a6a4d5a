"""Turn a fit's products into ``ndx-dyn`` containers: windows concatenated along time, on the session clock.

Every per-bin output is stored 2-D (or 1-D), time first, never trial × time × dim: windows are put in time order and
concatenated, with bin-centre timestamps from the source session. When those timestamps are evenly spaced (one
window, or windows that abut) the series carry ``starting_time`` and ``rate`` instead, as nwbinspector asks.

Every series holds its own ``timestamps`` dataset, never an HDF5 link to another series' timestamps: viewers that
read the file's datasets directly (Neurosift through LINDI) do not follow such links and then cannot plot the series.
Table columns are 1-D (one column per latent dimension, text for per-unit patterns) so that viewers and pandas show
a value in every cell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import VectorData
from pynwb.epoch import TimeIntervals
from pynwb.misc import Units

from nwb_dyn.analysis.products import FixedPointSet, GeneratedSamples, ModelProducts
from nwb_dyn.extract import NeuralData
from nwb_dyn.ndx import (
    DiscreteStateSeries,
    DynamicsModel,
    FitProvenance,
    FixedPointTable,
    GeneratedSeries,
    LatentSeries,
    ModelParameter,
    RateSeries,
    StateProbabilitySeries,
    StateSegments,
)

SOURCE_OPTIONAL_KEYS = FitProvenance.OPTIONAL_SOURCE_FIELDS


def to_json(value: Any) -> str:
    """JSON text of plain config/metric values (numpy scalars and arrays become Python numbers and lists)."""

    def plain(item: Any) -> Any:
        if isinstance(item, np.generic):
            return item.item()
        if isinstance(item, np.ndarray):
            return item.tolist()
        return str(item)

    return json.dumps(value, sort_keys=True, default=plain)


def _compressed(array: np.ndarray, dtype: str) -> H5DataIO:
    return H5DataIO(np.ascontiguousarray(array, dtype=dtype), compression="gzip")


@dataclass(frozen=True)
class TimeBase:
    """Where the rows of every per-bin series sit in time.

    order: (B,) windows in time order; timestamps: (N,) bin centres in seconds on the session clock of the N bins
    inside their windows (N = B·T unless short windows were padded: padding is not data and is never written);
    bin_width_s: the bin width; regular: True when the timestamps are evenly spaced by ``bin_width_s``;
    kept: (B·T,) bool, which bins of the time-ordered (B, T) windows are inside their window.
    """

    order: np.ndarray
    timestamps: np.ndarray
    bin_width_s: float
    regular: bool
    kept: np.ndarray

    @classmethod
    def of(cls, data: NeuralData) -> TimeBase:
        """The time base of ``data``'s windows (bin centres, windows sorted by start time)."""
        order = np.argsort(data.window_intervals_s[:, 0], kind="stable")
        kept = data.in_window[order].reshape(-1)
        timestamps = (data.bin_start_s[order] + data.bin_width_s / 2).reshape(-1)[kept]
        steps = np.diff(timestamps)
        regular = bool(np.allclose(steps, data.bin_width_s, rtol=0.0, atol=1e-6 * data.bin_width_s))
        return cls(order, timestamps, float(data.bin_width_s), regular, kept)

    def concatenate(self, per_window: np.ndarray) -> np.ndarray:
        """(B, T, ...) → (N, ...): the bins inside their windows, in time order."""
        ordered = per_window[self.order]
        return ordered.reshape(ordered.shape[0] * ordered.shape[1], *ordered.shape[2:])[self.kept]

    def clock(self) -> dict[str, Any]:
        """Time keyword arguments: ``starting_time``/``rate`` when regular, else a series' own copy of the timestamps."""
        if self.regular:
            return {"starting_time": float(self.timestamps[0]), "rate": 1.0 / self.bin_width_s}
        return {"timestamps": self.timestamps.copy()}


def latent_series(products: ModelProducts, time: TimeBase) -> LatentSeries:
    """Posterior latents, (B·T, R)."""
    return LatentSeries(
        name="latents",
        description=f"Posterior latents ({products.latent_estimate}) of the {products.family} model, one row per bin.",
        data=_compressed(time.concatenate(products.latents), "float32"),
        estimate=products.latent_estimate,
        comments="Times are bin centres on the source session's clock; windows are concatenated in time order.",
        **time.clock(),
    )


def rate_series(products: ModelProducts, data: NeuralData, time: TimeBase, units: Units | None) -> RateSeries:
    """Predicted mean per bin, (B·T, D), tied to the copied units when the data were spike counts."""
    region = None
    if units is not None and data.data_path == "units":
        row_of_id = {int(unit_id): row for row, unit_id in enumerate(units.id[:])}
        rows = [row_of_id[int(channel)] for channel in data.channel_ids if int(channel) in row_of_id]
        if len(rows) == data.num_channels:
            region = units.create_region(
                name="units_region", region=rows, description="Units modelled, in order."
            )
    counts = data.observation == "counts"
    return RateSeries(
        name="rates",
        description=(
            "Model-predicted mean observation per bin for every channel"
            + (" (expected spike counts per bin)." if counts else f" in the units of {data.data_path}.")
        ),
        data=_compressed(time.concatenate(data.in_source_units(products.rates)), "float32"),
        unit=data.observation_unit,
        channel_ids=np.asarray(data.channel_ids, dtype=np.int64),
        units_region=region,
        held_out=np.asarray(data.held_out, dtype=bool),
        **time.clock(),
    )


def state_series(states: np.ndarray, num_states: int, family: str, time: TimeBase) -> DiscreteStateSeries:
    """Most probable discrete state per bin: states (B, T) int → (B·T,)."""
    return DiscreteStateSeries(
        name="states",
        description=f"Most probable discrete state of the {family} model in every bin.",
        data=_compressed(time.concatenate(states), "int32"),
        num_states=int(num_states),
        **time.clock(),
    )


def state_probability_series(
    probabilities: np.ndarray, family: str, time: TimeBase
) -> StateProbabilitySeries:
    """Posterior state probabilities: (B, T, K) → (B·T, K)."""
    return StateProbabilitySeries(
        name="state_probabilities",
        description=f"Posterior probability of each discrete state of the {family} model per bin.",
        data=_compressed(time.concatenate(probabilities), "float32"),
        **time.clock(),
    )


def state_segments(states: np.ndarray, data: NeuralData, time: TimeBase) -> StateSegments:
    """One interval per run of equal states inside a window: from its first bin's start to its last bin's end.

    A run that ends inside the window stops exactly where the next run starts (the next bin's recorded start, not
    its own start plus the bin width, which can differ in the last bit): readers such as pynapple then see abutting
    intervals, not overlapping ones that they would merge, dropping the state column.
    """
    segments = StateSegments(
        name="state_segments", description="Runs of bins in one discrete state, per window."
    )
    for window in time.order:
        path = states[window, : data.bins_of_data[window]]  # padding after a short window is not data
        starts = np.flatnonzero(np.r_[True, path[1:] != path[:-1]])
        stops = np.r_[starts[1:], len(path)] - 1
        for first, last in zip(starts, stops):
            inside = last + 1 < len(path)
            end = (
                data.bin_start_s[window, last + 1]
                if inside
                else data.bin_start_s[window, last] + data.bin_width_s
            )
            segments.add_interval(
                start_time=float(data.bin_start_s[window, first]),
                stop_time=float(end),
                state=int(path[first]),
                trial=int(data.trial_ids[window]),
            )
    return segments


def fit_windows(data: NeuralData, time: TimeBase) -> TimeIntervals:
    """The windows (trials) the model was fitted on, with their split, in time order."""
    windows = TimeIntervals(
        name="fit_windows", description="The windows the model was fitted on and their split."
    )
    windows.add_column(name="trial", description="Row of the source trials table (or window index).")
    windows.add_column(name="data_split", description="'train' or 'val' (the split the window belonged to).")
    for row in time.order:
        windows.add_interval(
            start_time=float(data.window_intervals_s[row, 0]),
            stop_time=float(data.window_intervals_s[row, 1]),
            trial=int(data.trial_ids[row]),
            data_split=str(data.split[row]),
        )
    return windows


def linear_region_text(slopes: np.ndarray) -> str:
    """One fixed point's activation slopes (N,) int as text, ``"1,0,1"``: the ``linear_region`` column's format."""
    return ",".join(str(int(slope)) for slope in slopes)


def fixed_point_table(fixed_points: FixedPointSet, family: str) -> FixedPointTable:
    """One row per fixed point, every column 1-D so viewers and pandas show each cell.

    location (P, R) becomes ``location_0 .. location_{R-1}``; the complex eigenvalues (P, R) become
    ``eigenvalue_i_real`` and ``eigenvalue_i_imag`` (hdmf has no complex type); the per-unit activation slopes
    (P, N) become one text cell per point (:func:`linear_region_text`).
    """
    location = np.asarray(fixed_points.location, dtype=np.float64)
    eigenvalues = np.asarray(fixed_points.eigenvalues, dtype=np.complex128)
    num_latents = location.shape[1]
    descriptions = {spec["name"]: spec["description"] for spec in FixedPointTable.__columns__}
    columns = [
        VectorData(
            name=f"location_{i}",
            description=f"Coordinate {i} of the fixed point in latent space.",
            data=np.ascontiguousarray(location[:, i]),
        )
        for i in range(num_latents)
    ]
    columns.append(
        VectorData(
            name="stable",
            description=descriptions["stable"],
            data=np.asarray(fixed_points.stable, dtype=bool),
        )
    )
    for i in range(eigenvalues.shape[1]):
        for part, values in (("real", eigenvalues[:, i].real), ("imag", eigenvalues[:, i].imag)):
            columns.append(
                VectorData(
                    name=f"eigenvalue_{i}_{part}",
                    description=f"{'Real' if part == 'real' else 'Imaginary'} part of the Jacobian's eigenvalue {i}.",
                    data=np.ascontiguousarray(values),
                )
            )
    if fixed_points.state is not None:
        columns.append(
            VectorData(
                name="state",
                description=descriptions["state"],
                data=np.asarray(fixed_points.state, dtype=np.int32),
            )
        )
    if fixed_points.region is not None:
        columns.append(
            VectorData(
                name="linear_region",
                description=descriptions["linear_region"],
                data=[linear_region_text(slopes) for slopes in np.asarray(fixed_points.region)],
            )
        )
    return FixedPointTable(
        name="fixed_points",
        description=f"Fixed points of the {family} model's latent dynamics and their linear stability.",
        kind=fixed_points.kind,
        eigenvalue_reading=fixed_points.eigenvalue_reading,
        num_latents=num_latents,
        id=np.arange(fixed_points.num_points),
        columns=columns,
    )


def generated_series(samples: GeneratedSamples, data: NeuralData) -> list[GeneratedSeries]:
    """Generated latents (S·T, R) and observations (S·T, D, in the source's units) on the generated clock (0 s at
    each run's start)."""
    series = []
    observations = data.in_source_units(samples.observations)
    for content, values in (("latents", samples.latents), ("observations", observations)):
        runs, steps = values.shape[:2]
        series.append(
            GeneratedSeries(
                name=f"generated_{content}",
                description=f"{runs} runs of {steps} bins of {content} generated by the fitted model, concatenated.",
                data=_compressed(values.reshape(runs * steps, -1), "float32"),
                unit=data.observation_unit if content == "observations" else "a.u.",
                content=content,
                num_runs=int(runs),
                seed=int(samples.seed),
                conditioning=samples.conditioning,
                starting_time=0.0,
                rate=1.0 / data.bin_width_s,
            )
        )
    return series


def dynamics_model(products: ModelProducts, training_summary: dict[str, Any]) -> DynamicsModel:
    """The model: family, constructor hyperparameters, every weight as a named dataset, summary and metrics.

    When fixed points were computed, ``metrics["num_fixed_points"]`` records how many (zero included) and
    ``training_summary["fixed_point_search"]`` how they were found (method, budget, candidates examined).
    """
    metrics = dict(products.metrics)
    summary = dict(training_summary)
    if products.fixed_points is not None:
        metrics["num_fixed_points"] = products.fixed_points.num_points
        if products.fixed_points.search is not None:
            summary["fixed_point_search"] = products.fixed_points.search
    parameters = [
        ModelParameter(name=name, data=np.atleast_1d(np.asarray(value)))
        for name, value in products.weights.items()
    ]
    return DynamicsModel(
        name="model",
        family=products.family,
        hyperparameters=to_json(products.hyperparameters),
        training_summary=to_json(summary),
        metrics=to_json(metrics),
        model_parameters=parameters,
    )


def fit_provenance(
    source: dict[str, Any], config: dict[str, Any], seed: int, versions: dict[str, str], command: str
) -> FitProvenance:
    """Source identity (path or DANDI asset, digests), package versions, resolved config, seed and command line."""
    optional = {key: str(source[key]) for key in SOURCE_OPTIONAL_KEYS if source.get(key) is not None}
    return FitProvenance(
        name="provenance",
        source_kind=str(source.get("kind", "local")),
        source_location=str(source.get("location", "")),
        versions=to_json(versions),
        config=to_json(config),
        seed=int(seed),
        command=command,
        **optional,
    )
