"""Hand-written container classes of the ``ndx-dyn`` types, registered with pynwb (no torch here).

Each class subclasses the core class its spec type inherits, so ``isinstance(latents, TimeSeries)`` holds and
every tool that dispatches on the core class (nwbinspector, pynapple, nwbwidgets) treats ours as the core type.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hdmf.utils import docval, get_docval, popargs
from pynwb import TimeSeries, register_class
from pynwb.core import DynamicTable, MultiContainerInterface, NWBData, NWBDataInterface
from pynwb.epoch import TimeIntervals

NAMESPACE = "ndx-dyn"

_SERIES_HEAD = ("name", "data")
_SERIES_TAIL = (
    "resolution",
    "conversion",
    "offset",
    "timestamps",
    "starting_time",
    "rate",
    "comments",
    "description",
    "control",
    "control_description",
    "continuity",
)


def _series_docval(unit_default: str, *extra: dict) -> list[dict]:
    """TimeSeries constructor arguments with our required extras after ``name, data`` and a default ``unit``."""
    unit = {"name": "unit", "type": str, "doc": "Unit of data.", "default": unit_default}
    return [
        *get_docval(TimeSeries.__init__, *_SERIES_HEAD),
        *extra,
        unit,
        *get_docval(TimeSeries.__init__, *_SERIES_TAIL),
    ]


@register_class("LatentSeries", NAMESPACE)
class LatentSeries(TimeSeries):
    """Continuous latents, data (time, R); ``estimate`` says which posterior summary (e.g. ``"smoothed"``)."""

    __nwbfields__ = ("estimate",)

    @docval(
        *_series_docval("a.u.", {"name": "estimate", "type": str, "doc": "Which estimate these latents are."})
    )
    def __init__(self, **kwargs) -> None:
        estimate = popargs("estimate", kwargs)
        super().__init__(**kwargs)
        self.estimate = estimate


@register_class("DiscreteStateSeries", NAMESPACE)
class DiscreteStateSeries(TimeSeries):
    """Most probable discrete state per bin, data (time,) int32 in ``0..num_states-1``."""

    __nwbfields__ = ("num_states",)

    @docval(*_series_docval("state index", {"name": "num_states", "type": int, "doc": "Number of states K."}))
    def __init__(self, **kwargs) -> None:
        num_states = popargs("num_states", kwargs)
        if kwargs.get("continuity") is None:
            kwargs["continuity"] = "step"
        super().__init__(**kwargs)
        self.num_states = num_states


@register_class("StateProbabilitySeries", NAMESPACE)
class StateProbabilitySeries(TimeSeries):
    """Posterior state probabilities, data (time, K), rows summing to one."""

    @docval(*_series_docval("probability"))
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)


@register_class("RateSeries", NAMESPACE)
class RateSeries(TimeSeries):
    """Predicted mean observation per bin, data (time, D); ``channel_ids`` (D,), optionally ``units_region`` and
    ``held_out`` (D,) bool, True for the units the model never read."""

    __nwbfields__ = ("channel_ids", {"name": "units_region", "child": True}, "held_out")

    @docval(
        *_series_docval(
            "spikes/bin",
            {"name": "channel_ids", "type": "array_data", "doc": "(D,) source unit ids or channel indices."},
        ),
        {
            "name": "units_region",
            "type": "DynamicTableRegion",
            "doc": "Rows of the units table.",
            "default": None,
        },
        {"name": "held_out", "type": "array_data", "doc": "(D,) bool, True for held-out units.", "default": None},
    )
    def __init__(self, **kwargs) -> None:
        channel_ids, units_region, held_out = popargs("channel_ids", "units_region", "held_out", kwargs)
        super().__init__(**kwargs)
        self.channel_ids = channel_ids
        self.units_region = units_region
        self.held_out = held_out


@register_class("GeneratedSeries", NAMESPACE)
class GeneratedSeries(TimeSeries):
    """Model-generated runs, data (num_runs·T, dim): ``content`` is ``"latents"`` or ``"observations"``."""

    __nwbfields__ = ("content", "num_runs", "seed", "conditioning")

    @docval(
        *_series_docval(
            "a.u.",
            {"name": "content", "type": str, "doc": "'latents' or 'observations'."},
            {"name": "num_runs", "type": int, "doc": "Number of runs concatenated along time."},
            {"name": "seed", "type": int, "doc": "Seed of the generator."},
            {"name": "conditioning", "type": str, "doc": "What the samples were conditioned on."},
        )
    )
    def __init__(self, **kwargs) -> None:
        content, num_runs, seed, conditioning = popargs("content", "num_runs", "seed", "conditioning", kwargs)
        super().__init__(**kwargs)
        self.content = content
        self.num_runs = num_runs
        self.seed = seed
        self.conditioning = conditioning


@register_class("StateSegments", NAMESPACE)
class StateSegments(TimeIntervals):
    """One row per run of bins in one discrete state: start_time, stop_time, state, trial."""

    __columns__ = (
        {"name": "state", "description": "Discrete state index.", "required": True},
        {"name": "trial", "description": "Source trial (or window) id.", "required": True},
    )

    @docval(*get_docval(TimeIntervals.__init__))
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)


@register_class("FixedPointTable", NAMESPACE)
class FixedPointTable(DynamicTable):
    """Fixed points, one per row, every column 1-D: ``location_i`` and ``eigenvalue_i_real``/``_imag`` for each
    latent dimension i < ``num_latents``, ``stable``, and optionally ``state`` and ``linear_region``.

    Files written by ndx-dyn 0.1.0 hold 2-D ``location``, ``eigenvalues_real``/``_imag`` and ``region`` columns
    instead (and no ``num_latents``); they are declared here so those files still read.
    """

    __fields__ = ("kind", "eigenvalue_reading", "num_latents")
    __columns__ = (
        {"name": "stable", "description": "Linearly stable.", "required": True},
        {
            "name": "state",
            "description": "Discrete state whose dynamics hold this fixed point.",
            "required": False,
        },
        {
            "name": "linear_region",
            "description": (
                "Activation slope of every unit at the fixed point, comma-separated in unit order; names the "
                "linear region of a piecewise-linear network that holds the point."
            ),
            "required": False,
        },
        {
            "name": "location",
            "description": "Fixed point in latent space (ndx-dyn 0.1.0).",
            "required": False,
        },
        {
            "name": "eigenvalues_real",
            "description": "Real parts of the Jacobian's eigenvalues (ndx-dyn 0.1.0).",
            "required": False,
        },
        {
            "name": "eigenvalues_imag",
            "description": "Imaginary parts of the Jacobian's eigenvalues (ndx-dyn 0.1.0).",
            "required": False,
        },
        {
            "name": "region",
            "description": "Activation slope of every unit at the fixed point (ndx-dyn 0.1.0).",
            "required": False,
        },
    )

    @docval(
        *get_docval(DynamicTable.__init__, "name", "description"),
        {"name": "kind", "type": str, "doc": "'exact' or 'numeric'."},
        {"name": "eigenvalue_reading", "type": str, "doc": "'discrete' or 'continuous'."},
        {
            "name": "num_latents",
            "type": int,
            "doc": "Latent dimension R (None in 0.1.0 files).",
            "default": None,
        },
        *get_docval(DynamicTable.__init__, "id", "columns", "colnames", "target_tables"),
    )
    def __init__(self, **kwargs) -> None:
        kind, reading, num_latents = popargs("kind", "eigenvalue_reading", "num_latents", kwargs)
        super().__init__(**kwargs)
        self.kind = kind
        self.eigenvalue_reading = reading
        self.num_latents = num_latents


@register_class("ModelParameter", NAMESPACE)
class ModelParameter(NWBData):
    """One named weight tensor of a fitted model; ``name`` is its ``state_dict`` key."""

    @docval(*get_docval(NWBData.__init__, "name", "data"))
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)


@register_class("DynamicsModel", NAMESPACE)
class DynamicsModel(MultiContainerInterface):
    """A fitted model: ``family``, JSON ``hyperparameters`` (constructor arguments), weights, summary, metrics."""

    __clsconf__: ClassVar[dict[str, Any]] = {
        "attr": "model_parameters",
        "type": ModelParameter,
        "add": "add_model_parameter",
        "get": "get_model_parameter",
    }
    __nwbfields__ = ("family", "hyperparameters", "training_summary", "metrics")

    @docval(
        {"name": "name", "type": str, "doc": "Name of this model.", "default": "model"},
        {"name": "family", "type": str, "doc": "Model family, e.g. 'lowrank'."},
        {"name": "hyperparameters", "type": str, "doc": "Constructor arguments, JSON text."},
        {"name": "training_summary", "type": str, "doc": "Training summary, JSON text."},
        {"name": "metrics", "type": str, "doc": "Evaluation metrics, JSON text.", "default": None},
        {
            "name": "model_parameters",
            "type": (list, tuple, dict),
            "doc": "ModelParameter objects.",
            "default": None,
        },
    )
    def __init__(self, **kwargs) -> None:
        family, hyperparameters, summary, metrics, parameters = popargs(
            "family", "hyperparameters", "training_summary", "metrics", "model_parameters", kwargs
        )
        super().__init__(**kwargs)
        self.family = family
        self.hyperparameters = hyperparameters
        self.training_summary = summary
        self.metrics = metrics
        if parameters:
            self.add_model_parameter(
                list(parameters.values()) if isinstance(parameters, dict) else list(parameters)
            )


@register_class("FitProvenance", NAMESPACE)
class FitProvenance(NWBDataInterface):
    """Source identity (path/URL/DANDI asset and digests), package versions, resolved config, seed and command."""

    OPTIONAL_SOURCE_FIELDS = (
        "sha256",
        "etag",
        "dandiset_id",
        "dandiset_version",
        "asset_path",
        "asset_id",
        "api_url",
    )
    __nwbfields__ = (
        "source_kind",
        "source_location",
        *OPTIONAL_SOURCE_FIELDS,
        "versions",
        "config",
        "seed",
        "command",
    )

    @docval(
        {"name": "name", "type": str, "doc": "Name of this record.", "default": "provenance"},
        {"name": "source_kind", "type": str, "doc": "'local', 'url' or 'dandi'."},
        {"name": "source_location", "type": str, "doc": "Path, URL or dandiset address."},
        {"name": "versions", "type": str, "doc": "Package versions, JSON text."},
        {"name": "config", "type": str, "doc": "Resolved configuration, JSON text."},
        {"name": "seed", "type": int, "doc": "Seed of the run."},
        {"name": "command", "type": str, "doc": "Command line of the run."},
        *(
            {"name": key, "type": str, "doc": f"Source {key}.", "default": None}
            for key in OPTIONAL_SOURCE_FIELDS
        ),
    )
    def __init__(self, **kwargs) -> None:
        fields = {key: kwargs.pop(key) for key in list(kwargs) if key != "name"}
        super().__init__(**kwargs)
        for key, value in fields.items():
            setattr(self, key, value)
