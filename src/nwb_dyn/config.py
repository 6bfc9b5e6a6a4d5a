"""The fit configuration: typed sections, validated from YAML and command-line overrides.

Precedence is defaults < YAML file (``--config``) < command-line options. Every key is checked: an unknown key or a
value of the wrong type or outside its allowed set raises :class:`ConfigError` naming the dotted key. The resolved
configuration is saved next to checkpoints and inside the output NWB file, so a run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nwb_dyn.errors import ConfigError

MODEL_FAMILIES = ("lowrank", "srnn")
#: Initial learning rate of each family when ``trainer.learning_rate`` is unset: RAdam on the SMC objective (the
#: authors use 1e-3 over thousands of epochs; 3e-3 with the plateau halvings converges in fewer steps), Adam on the
#: SRNN's ELBO (1e-2, as the full-batch fits of the paper's Lorenz demo).
DEFAULT_LEARNING_RATES = {"lowrank": 3e-3, "srnn": 1e-2}
#: Lightning strategies we support: single process, or DDP through one of Lightning's own launchers.
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "ddp_find_unused_parameters_true")
PRECISIONS = ("32-true", "64-true", "16-mixed", "bf16-mixed", "bf16-true")


@dataclass
class DataConfig:
    """How an NWB session becomes model-ready windows.

    Validation windows (``validation_fraction``) and held-out units (``heldout_fraction``) are drawn with
    ``split_seed`` (unset: the fit's ``seed``), so splits can vary while the model's seed stays, or the other way.
    """

    bin_width_s: float = 0.02
    align: str | None = None
    window_s: list[float] | None = None
    window_length_s: float = 1.0
    series: str | None = None
    units_where: str | None = None
    intervals: str | None = None
    heldout_fraction: float = 0.0
    validation_fraction: float = 0.2
    split_seed: int | None = None
    batch_size: int = 16
    zscore: bool = True
    inputs: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    def validate(self) -> None:
        _require(self.bin_width_s > 0, "data.bin_width_s", f"must be > 0 seconds, got {self.bin_width_s}")
        _require(self.window_length_s > 0, "data.window_length_s", f"must be > 0 seconds, got {self.window_length_s}")
        if self.window_s is not None:
            _require(
                len(self.window_s) == 2 and self.window_s[0] < self.window_s[1],
                "data.window_s",
                f"must be [START, STOP] with START < STOP (seconds relative to --align), got {self.window_s}",
            )
        _require(0 <= self.heldout_fraction < 1, "data.heldout_fraction", "must lie in [0, 1)")
        _require(0 <= self.validation_fraction < 1, "data.validation_fraction", "must lie in [0, 1)")
        _require(self.batch_size >= 1, "data.batch_size", "must be >= 1")
        for key in ("series", "units_where", "intervals"):
            value = getattr(self, key)
            _require(value is None or bool(value.strip()), f"data.{key}", "must not be empty when given")
        for key in ("inputs", "targets"):
            paths = getattr(self, key)
            _require(all(path.strip() for path in paths), f"data.{key}", f"must hold series paths, got {paths}")
            _require(len(set(paths)) == len(paths), f"data.{key}", f"names a series twice: {paths}")


@dataclass
class LowRankConfig:
    """Stochastic low-rank RNN (Pals et al. 2024) and its variational SMC.

    ``auto`` picks the paper's choice per data type: spike counts → Poisson likelihood (softplus link), encoder
    proposal, diagonal latent noise; continuous signals → Gaussian likelihood, optimal proposal, full latent noise.
    RAdam, as the authors; the learning rate follows the convergence schedule of :class:`TrainerConfig` (the
    authors' fixed exponential decay over a fixed epoch count needs that count in advance).

    ``rank: auto`` reads the rank off the training windows before the fit: the number of principal components of
    the smoothed activity that stand above those of the same data with each channel shifted in time on its own
    (parallel analysis, :func:`nwb_dyn.models.initialisation.signal_dimensions`), at most ``units``.
    """

    rank: int | str = "auto"
    units: int = 64
    particles: int = 16
    proposal: str = "auto"
    obs: str = "auto"
    activation: str = "clipped_relu"
    decay_init: float = 0.9
    transition_noise_std_init: float = 0.1
    initial_noise_std_init: float = 1.0
    observation_noise_std_init: float = 0.1
    noise_covariance: str = "auto"
    readout: str = "affine"
    link: str = "softplus"
    encoder_kernel_sizes: list[int] = field(default_factory=lambda: [21, 11, 1])
    encoder_channels: list[int] = field(default_factory=lambda: [64, 64])
    encoder_padding: str = "causal"

    def validate(self) -> None:
        _require(
            self.rank == "auto" or (isinstance(self.rank, int) and self.rank >= 1),
            "lowrank.rank",
            f"must be an integer >= 1 or 'auto'; got {self.rank!r}",
        )
        _require(self.rank == "auto" or self.units >= self.rank, "lowrank.units", f"must be >= rank ({self.rank})")
        _require(self.particles >= 1, "lowrank.particles", "must be >= 1")
        _choice(self.proposal, ("auto", "optimal", "bootstrap", "encoder"), "lowrank.proposal")
        _choice(self.obs, ("auto", "poisson", "gaussian"), "lowrank.obs")
        _choice(self.activation, ("relu", "clipped_relu", "tanh", "identity"), "lowrank.activation")
        _require(0 < self.decay_init < 1, "lowrank.decay_init", "must lie in (0, 1)")
        for key in ("transition_noise_std_init", "initial_noise_std_init", "observation_noise_std_init"):
            _require(getattr(self, key) > 0, f"lowrank.{key}", "must be > 0")
        _choice(self.noise_covariance, ("auto", "diag", "full"), "lowrank.noise_covariance")
        _choice(self.readout, ("affine", "one_to_one"), "lowrank.readout")
        _choice(self.link, ("softplus", "exp"), "lowrank.link")
        _choice(self.encoder_padding, ("causal", "acausal"), "lowrank.encoder_padding")
        _require(
            len(self.encoder_kernel_sizes) >= 1 and all(k >= 1 for k in self.encoder_kernel_sizes),
            "lowrank.encoder_kernel_sizes",
            "must list one or more kernel sizes >= 1",
        )
        _require(
            len(self.encoder_channels) == len(self.encoder_kernel_sizes) - 1 and all(c >= 1 for c in self.encoder_channels),
            "lowrank.encoder_channels",
            f"must list {len(self.encoder_kernel_sizes) - 1} channel counts >= 1 (one per hidden encoder layer)",
        )
        _require(
            not (self.proposal == "optimal" and self.obs == "poisson"),
            "lowrank.proposal",
            "'optimal' needs Gaussian observations; use --proposal encoder (or bootstrap) with --obs poisson",
        )
        _require(
            not (self.proposal == "encoder" and self.noise_covariance == "full"),
            "lowrank.noise_covariance",
            "must be diag (or auto) with --proposal encoder: the encoder proposal multiplies diagonal Gaussians",
        )


@dataclass
class SrnnConfig:
    """Switching RNN (Zhang & Saxena 2024) fitted by the collapsed ELBO with a bidirectional-LSTM encoder.

    During the initial stage (``trainer.init_steps``) the loss adds the paper's cross-entropy to initial labels
    (``init``), weighted by ``label_weight``, so that every state is used; then the plain ELBO until it converges. With
    ``init: hmm`` the labels are the Viterbi path of a Gaussian HMM fitted to the session's principal components
    (of the log of smoothed spike counts, or of signals); k-means starts it. ``init_smoothing_s`` is the Gaussian
    smoothing in time before the components (unset: 0.1 s for spike counts, none for signals).

    ``latent_dim`` P defaults to 8, as the paper's widefield fits (its reaching fits used 16). On MC_Maze_Small
    P = 3 predicted the held-out units below GPFA (co-bps 0.131 against 0.156, 5 splits) and P = 8 above it (0.164);
    on the simulated switching systems the two find the states equally well (``benchmarks/validity.py``, README).
    """

    states: int = 2
    latent_dim: int = 8
    encoder_hidden: int = 32
    obs: str = "auto"
    init: str = "hmm"
    init_smoothing_s: float | None = None
    label_weight: float = 0.5
    stickiness_init: float = 2.0

    def validate(self) -> None:
        _require(self.states >= 1, "srnn.states", "must be >= 1")
        _require(self.latent_dim >= 1, "srnn.latent_dim", "must be >= 1")
        _require(self.encoder_hidden >= 1, "srnn.encoder_hidden", "must be >= 1")
        _choice(self.obs, ("auto", "poisson", "gaussian"), "srnn.obs")
        _choice(self.init, ("kmeans", "hmm", "random"), "srnn.init")
        _require(
            self.init_smoothing_s is None or self.init_smoothing_s >= 0,
            "srnn.init_smoothing_s",
            "must be >= 0 seconds (0 disables smoothing; leave unset for 0.1 s on spike counts, 0 otherwise)",
        )
        _require(self.label_weight >= 0, "srnn.label_weight", "must be >= 0")


@dataclass
class TrainerConfig:
    """Optimisation and the Lightning Trainer: training length, schedule, devices and strategy, guards, logs.

    ``learning_rate`` unset takes the family's default (:data:`DEFAULT_LEARNING_RATES`). ``init_from_data`` starts
    readouts, offsets, noise and the initial state from the training windows
    (:mod:`nwb_dyn.models.initialisation`); for the first ``init_steps`` optimiser steps (the initial stage)
    encoders are also pulled towards that initialisation's latents, and SRNN state posteriors towards the HMM labels
    (the paper's initial stage). A fit trains until its objective converges (the validation loss, or the training loss without validation
    windows): it stops after ``patience_steps`` optimiser steps without a relative improvement of
    ``min_improvement``, halving the learning rate after every ``lr_plateau_steps`` steps without one (see
    :class:`nwb_dyn.training.callbacks.ConvergenceSchedule`). ``max_steps``, ``max_time_s`` and the optional
    ``max_epochs`` cap the length; a fit that hits a cap says it did not converge.

    ``data.batch_size`` is the global batch: under DDP each of the ``devices × num_nodes`` processes takes an equal
    share, so a run on 2 processes takes the same optimiser steps as one process.
    """

    learning_rate: float | None = None
    init_from_data: bool = True
    init_steps: int = 300
    max_steps: int = 20000
    max_epochs: int | None = None
    max_time_s: float | None = 4 * 3600.0
    val_check_steps: int = 25
    patience_steps: int = 600
    lr_plateau_steps: int = 200
    lr_warmup_steps: int = 50
    lr_min_factor: float = 0.05
    min_improvement: float = 1e-3
    gradient_clip_val: float = 10.0
    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    num_threads: int = 0
    progress_bar: str = "auto"

    def validate(self) -> None:
        _require(self.learning_rate is None or self.learning_rate > 0, "trainer.learning_rate", "must be > 0")
        _require(self.max_steps >= 1, "trainer.max_steps", "must be >= 1")
        _require(self.max_epochs is None or self.max_epochs >= 1, "trainer.max_epochs", "must be >= 1 when given")
        _require(self.max_time_s is None or self.max_time_s > 0, "trainer.max_time_s", "must be > 0 seconds when given")
        _require(self.val_check_steps >= 1, "trainer.val_check_steps", "must be >= 1")
        _require(self.patience_steps >= 1, "trainer.patience_steps", "must be >= 1 optimiser step")
        _require(self.lr_plateau_steps >= 1, "trainer.lr_plateau_steps", "must be >= 1 optimiser step")
        _require(self.lr_warmup_steps >= 0, "trainer.lr_warmup_steps", "must be >= 0")
        _require(self.init_steps >= 0, "trainer.init_steps", "must be >= 0 optimiser steps")
        _require(0 < self.lr_min_factor <= 1, "trainer.lr_min_factor", "must lie in (0, 1]")
        _require(0 <= self.min_improvement < 1, "trainer.min_improvement", "must lie in [0, 1)")
        _require(self.gradient_clip_val >= 0, "trainer.gradient_clip_val", "must be >= 0 (0 disables clipping)")
        _choice(self.accelerator, ("auto", "cpu", "gpu"), "trainer.accelerator")
        _require(self.devices >= 1, "trainer.devices", "must be >= 1")
        _require(self.num_nodes >= 1, "trainer.num_nodes", "must be >= 1")
        _choice(self.strategy, STRATEGIES, "trainer.strategy")
        _choice(self.precision, PRECISIONS, "trainer.precision")
        _require(self.num_threads >= 0, "trainer.num_threads", "must be >= 0 (0 picks a sane default)")
        _choice(self.progress_bar, ("auto", "on", "off"), "trainer.progress_bar")

    @property
    def world_size(self) -> int:
        """Number of training processes: devices × nodes."""
        return self.devices * self.num_nodes


FIXED_POINT_METHODS = ("auto", "exact", "numeric", "off")
PIECEWISE_LINEAR_ACTIVATIONS = ("relu", "clipped_relu")


@dataclass
class AnalysisConfig:
    """What a fit computes after training besides the posterior and the forecasts.

    ``fixed_points``: ``auto`` runs the exact piecewise-linear enumeration when its predicted wall time fits
    ``fixed_point_budget_s`` and otherwise (and for smooth activations) a numeric search from many starts, stopped at
    the budget; ``exact`` always enumerates, with no time limit (low-rank relu or clipped_relu only); ``numeric``
    always searches; ``off`` computes none. The output records the method, the budget and the candidates examined.
    """

    fixed_points: str = "auto"
    fixed_point_budget_s: float = 60.0

    def validate(self) -> None:
        _choice(self.fixed_points, FIXED_POINT_METHODS, "analysis.fixed_points")
        _require(self.fixed_point_budget_s > 0, "analysis.fixed_point_budget_s", "must be > 0 seconds")


@dataclass
class FitConfig:
    """Everything one ``nwb-dyn fit`` needs besides the source and the output directory."""

    model: str = "lowrank"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    lowrank: LowRankConfig = field(default_factory=LowRankConfig)
    srnn: SrnnConfig = field(default_factory=SrnnConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def validate(self) -> None:
        _choice(self.model, MODEL_FAMILIES, "model")
        _require(
            self.analysis.fixed_points != "exact"
            or (self.model == "lowrank" and self.lowrank.activation in PIECEWISE_LINEAR_ACTIVATIONS),
            "analysis.fixed_points",
            "is 'exact', which needs --model lowrank with a piecewise-linear --activation (relu or clipped_relu); "
            "use auto or numeric",
        )
        for section in dataclasses.fields(self):
            value = getattr(self, section.name)
            if dataclasses.is_dataclass(value):
                value.validate()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON-safe)."""
        return dataclasses.asdict(self)


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"config key '{key}' {message}")


def _choice(value: str, allowed: tuple[str, ...], key: str) -> None:
    _require(value in allowed, key, f"must be one of {', '.join(allowed)}; got '{value}'")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a field annotation, converting the harmless cases (int for float, tuple for list)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for choice in inner[:-1]:  # the first member type the value fits (int before str for `int | str`)
            try:
                return _coerce(value, choice, key)
            except ConfigError:
                continue
        return _coerce(value, inner[-1], key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' must be a list, got {type(value).__name__} {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"config key '{key}' has an unsupported type")


def _merge_into(instance: Any, mapping: dict[str, Any], prefix: str) -> None:
    hints = typing.get_type_hints(type(instance))
    known = {f.name for f in dataclasses.fields(instance)}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(
                f"unknown config key '{dotted}'; known keys here: {', '.join(sorted(known))}"
            )
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{dotted}' must be a mapping of its own keys, got {value!r}")
            _merge_into(current, value, f"{dotted}.")
        else:
            setattr(instance, key, _coerce(value, hints[key], dotted))


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping (safe loader: no code runs)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}; check the --config path") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}; fix that line") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys (model, seed, data, ...)")
    return loaded


def resolve_config(
    yaml_path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> FitConfig:
    """Build a validated :class:`FitConfig` from defaults, an optional YAML file and dotted-key overrides.

    ``overrides`` maps dotted keys (``"lowrank.rank"``) to values; ``None`` values are ignored (not given).
    """
    config = FitConfig()
    if yaml_path is not None:
        _merge_into(config, load_yaml(yaml_path), "")
    nested: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        target = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    _merge_into(config, nested, "")
    config.validate()
    if config.trainer.learning_rate is None:
        config.trainer.learning_rate = DEFAULT_LEARNING_RATES[config.model]
    return config
