"""What an NWB file offers to fit, from metadata alone, and what ``fit`` would choose by default and why.

Nothing here reads a data array: shapes come from the HDF5 datasets, spike counts from the last entry of the
``spike_times`` index, so ``nwb-dyn ls`` stays fast on streamed files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pynwb import NWBFile, TimeSeries
from pynwb.image import ImageSeries

from nwb_dyn.extract.series_paths import series_by_path

#: Output-name modality of a series, by its neurodata type (checked in order, subclasses first).
_MODALITY_BY_TYPE = (
    ("ElectricalSeries", "ecephys"),
    ("SpikeEventSeries", "ecephys"),
    ("RoiResponseSeries", "ophys"),
    ("TwoPhotonSeries", "ophys"),
    ("OnePhotonSeries", "ophys"),
    ("PatchClampSeries", "icephys"),
    ("SpatialSeries", "behavior"),
    ("ImageSeries", "image"),
)
_MODALITY_BY_MODULE = ("ecephys", "ophys", "icephys", "behavior", "ogen")
#: Series of these modalities are preferred as the default over behaviour, stimuli and anything else.
_NEURAL_MODALITIES = ("ecephys", "ophys", "icephys")


@dataclass(frozen=True)
class UnitsSummary:
    """The Units table: how many units and spikes, and which columns (for ``--units-where``)."""

    count: int
    spike_count: int
    columns: tuple[str, ...]


@dataclass(frozen=True)
class SeriesSummary:
    """One TimeSeries: where it is, its shape and clock, and whether it can be fitted (else why not)."""

    path: str
    neurodata_type: str
    shape: tuple[int, ...]
    unit: str
    rate_hz: float | None
    num_timestamps: int | None
    fittable: bool
    why_not: str = ""

    @property
    def size(self) -> int:
        """Number of values (samples × channels)."""
        return int(np.prod(self.shape)) if self.shape else 0


@dataclass(frozen=True)
class IntervalsSummary:
    """A TimeIntervals table (``trials``, ``epochs`` or a custom one under ``intervals/``)."""

    name: str
    rows: int
    columns: tuple[str, ...]


@dataclass(frozen=True)
class DataChoice:
    """The data a fit uses: ``"units"`` or a series path, its output modality and the reason it was chosen."""

    path: str
    modality: str
    reason: str


@dataclass
class Inventory:
    """Everything fittable in one file and the default choice (None when nothing is fittable, see ``reason``)."""

    units: UnitsSummary | None
    series: list[SeriesSummary]
    trials: IntervalsSummary | None
    other_intervals: list[IntervalsSummary]
    default: DataChoice | None
    reason: str
    windows: str = ""
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable description, one line per item (what ``nwb-dyn ls`` prints)."""
        out = []
        if self.units is None:
            out.append("units: none")
        else:
            out.append(
                f"units: {self.units.count} units, {self.units.spike_count} spikes; columns "
                f"{', '.join(self.units.columns)}"
            )
        out.append(f"series: {len(self.series)}")
        for item in self.series:
            clock = f"rate {item.rate_hz:g} Hz" if item.rate_hz is not None else f"{item.num_timestamps} timestamps"
            verdict = "" if item.fittable else f"  (not fittable: {item.why_not})"
            out.append(
                f"  {item.path}  {item.neurodata_type} {'x'.join(map(str, item.shape))}  {clock}  "
                f"unit {item.unit}{verdict}"
            )
        out.append(
            "trials: none" if self.trials is None
            else f"trials: {self.trials.rows} rows; columns {', '.join(self.trials.columns)}"
        )
        for table in self.other_intervals:
            out.append(f"intervals/{table.name}: {table.rows} rows; columns {', '.join(table.columns)}")
        if self.default is None:
            out.append(f"default: nothing to fit ({self.reason})")
        else:
            out.append(f"default: {self.default.path} [{self.default.modality}] — {self.default.reason}")
            out.append(f"windows: {self.windows}")
        out.extend(f"note: {note}" for note in self.notes)
        return out


def modality_of(path: str, series: TimeSeries | None) -> str:
    """DANDI modality label of the fitted data: units are ``ecephys``; a series by type, then by processing module."""
    if series is None:
        return "ecephys"
    for klass in type(series).__mro__:
        for type_name, modality in _MODALITY_BY_TYPE:
            if klass.__name__ == type_name:
                return modality
    parts = path.split("/")
    if parts[0] == "processing" and len(parts) > 1 and parts[1].lower() in _MODALITY_BY_MODULE:
        return parts[1].lower()
    return "misc"


def _why_not_fittable(series: TimeSeries) -> str:
    if isinstance(series, ImageSeries) and getattr(series, "external_file", None) is not None:
        return "frames are in external files"
    shape = getattr(series.data, "shape", None)
    dtype = getattr(series.data, "dtype", None)
    if shape is None or dtype is None:
        return "no data array"
    if len(shape) not in (1, 2):
        return f"{len(shape)}-D data"
    if np.dtype(dtype).kind not in "biuf":
        return f"{np.dtype(dtype)} values"
    if shape[0] < 2:
        return "fewer than 2 samples"
    return ""


def summarise_series(path: str, series: TimeSeries) -> SeriesSummary:
    """Metadata of one series (no data read)."""
    shape = tuple(int(n) for n in getattr(series.data, "shape", ()) or ())
    timestamps = series.timestamps
    why_not = _why_not_fittable(series)
    return SeriesSummary(
        path=path,
        neurodata_type=type(series).__name__,
        shape=shape,
        unit=str(series.unit),
        rate_hz=float(series.rate) if series.rate is not None else None,
        num_timestamps=None if timestamps is None else len(timestamps),
        fittable=not why_not,
        why_not=why_not,
    )


def _units_summary(nwbfile: NWBFile) -> UnitsSummary | None:
    units = nwbfile.units
    if units is None:
        return None
    columns = tuple(units.colnames)
    spikes = 0
    if "spike_times" in columns and len(units):
        spikes = int(units["spike_times"].data[-1])  # the ragged index's last end = total spikes
    return UnitsSummary(count=len(units), spike_count=spikes, columns=columns)


def _intervals(nwbfile: NWBFile) -> tuple[IntervalsSummary | None, list[IntervalsSummary]]:
    trials, others = None, []
    for name, table in (nwbfile.intervals or {}).items():
        summary = IntervalsSummary(name=name, rows=len(table), columns=tuple(table.colnames))
        if name == "trials":
            trials = summary
        else:
            others.append(summary)
    return trials, others


def _default_choice(
    units: UnitsSummary | None, series: list[SeriesSummary], all_series: dict[str, TimeSeries]
) -> tuple[DataChoice | None, str]:
    if units is not None and units.count and "spike_times" in units.columns and units.spike_count:
        reason = f"the Units table has {units.count} units with {units.spike_count} spikes (spikes come first)"
        return DataChoice("units", "ecephys", reason), reason
    fittable = [item for item in series if item.fittable]
    if not fittable:
        why = "the Units table is empty or has no spikes" if units is not None else "there is no Units table"
        return None, f"{why} and no TimeSeries can be fitted; nothing else fittable was found"
    modality = {item.path: modality_of(item.path, all_series[item.path]) for item in fittable}
    neural = [item for item in fittable if modality[item.path] in _NEURAL_MODALITIES]
    pool, kind = (neural, "neural ") if neural else (fittable, "")
    chosen = max(pool, key=lambda item: item.size)
    lead = "no spikes in a Units table" if units is not None else "no Units table"
    if len(pool) == 1:
        reason = f"{lead}; it is the only fittable {kind}TimeSeries"
    else:
        reason = f"{lead}; it is the largest of {len(pool)} fittable {kind}TimeSeries ({chosen.size} values)"
    return DataChoice(chosen.path, modality[chosen.path], reason), reason


def describe_fittable(nwbfile: NWBFile) -> Inventory:
    """List the units, every TimeSeries, trials and other TimeIntervals of ``nwbfile`` and the default choice."""
    all_series = series_by_path(nwbfile)
    series = [summarise_series(path, item) for path, item in sorted(all_series.items())]
    units = _units_summary(nwbfile)
    trials, others = _intervals(nwbfile)
    default, reason = _default_choice(units, series, all_series)
    if trials is not None and trials.rows:
        windows = f"one per row of the trials table ({trials.rows}); --align COLUMN --window START STOP to align"
    else:
        named = f" (or pass --intervals {others[0].name})" if others else ""
        windows = (
            "no trials table: contiguous --window-length windows over the valid time (obs_intervals or the series' "
            f"range, within epochs, minus invalid_times){named}"
        )
    inventory = Inventory(units, series, trials, others, default, reason, windows)
    if units is not None and "obs_intervals" not in units.columns and default is not None and default.path == "units":
        inventory.notes.append("units have no obs_intervals; every bin from the first to the last spike counts as observed")
    return inventory
