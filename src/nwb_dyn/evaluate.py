"""The metrics of one fit, from what the fit produced: the glue between the data path and ``analysis.metrics``.

``fit_metrics`` is called at the end of every fit (its dict is stored in the output NWB) and again by
``nwb-dyn evaluate`` on arrays read back from an output file. It picks the evaluation windows, applies the
unit observation mask, finds trial conditions and behaviour targets, and hands everything to
:func:`nwb_dyn.analysis.metrics.evaluate_arrays`. A result file holds the model's outputs but not the recorded
data, so ``evaluate_result`` re-extracts the source session with the fit's recorded configuration and checks that
it is the same session and the same windows before scoring.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from nwb_dyn.analysis.forecast import Forecasts
from nwb_dyn.analysis.metrics import DecoderTraining, epoch_labels_from_events, evaluate_arrays
from nwb_dyn.analysis.products import ModelProducts
from nwb_dyn.config import FitConfig, resolve_config
from nwb_dyn.errors import ConfigError, OutputError
from nwb_dyn.extract import NeuralData
from nwb_dyn.results.reader import FitResult, read
from nwb_dyn.sources.identity import SourceIdentity

#: Loads the session a result came from: (SOURCE string, the fit's config) -> (its identity, its windows).
SessionLoader = Callable[[str, FitConfig], tuple[SourceIdentity, NeuralData]]

#: Trials columns that name a trial's condition, in the order tried; NLB's MC_Maze uses the first pair together.
CONDITION_COLUMN_CHOICES: tuple[tuple[str, ...], ...] = (("trial_type", "trial_version"), ("condition",))
#: NLB's spike smoothing before the PSTH (``kern_sd``): 50 ms, its MC_Maze small/medium/large and RTT setting
#: (70 ms for MC_Maze, 40 ms for Area2_Bump).
PSTH_SMOOTHING_SD_S = 0.05


def fit_metrics(
    data: NeuralData,
    products: ModelProducts,
    reference_states: np.ndarray | None = None,
    condition_columns: Sequence[str] | None = None,
    forecasts: Forecasts | None = None,
) -> dict[str, float]:
    """Every applicable metric of a fit, each named with the split of windows it was computed on.

    Keys are ``val_<metric>`` when the fit has validation windows, and ``train_<metric>`` (in-sample numbers) when
    it has none: ``val_co_bps``, ``train_heldin_bps``, ... (metric names as :func:`evaluate_arrays` gives them).
    data: the windows the model was fitted on; products: what the fit produced for the same windows (rates and
    latents (B, T, ·), optional states (B, T) and generated samples); reference_states: optional (B, T) ints for
    all windows in ``data`` order (negative = unlabelled), e.g. from :func:`event_epoch_labels`;
    condition_columns: trials columns whose joint value is a trial's condition for PSTH R² (None = the first of
    :data:`CONDITION_COLUMN_CHOICES` present in the trials table); forecasts: the model's forecasts of (at least)
    the scored windows (``ModelFamily.forecast``), scored as ``k_step_mse_<k>`` and forward prediction (``fp_bps``
    for counts, ``fp_mse`` for signals) on the bins the filter could observe. Behaviour decoders are trained on the
    training windows and scored on the validation ones (NLB's protocol); PSTH R² smooths spikes with NLB's kernel
    (:data:`PSTH_SMOOTHING_SD_S`) and averages the empirical PSTH over every window of a condition, as NLB does.
    Padding after a short window and bins outside the recording are left out of every score.
    """
    split = "val" if data.split_indices("val").size else "train"
    scored = data.split_indices(split)
    # every window scored: views instead of (B, T, D) copies of a whole session
    evaluation = slice(None) if len(scored) == data.num_windows else scored
    training = data.split_indices("train") if split == "val" else np.zeros(0, dtype=np.int64)
    targets = data.targets
    decoder_training = None
    if targets is not None and training.size >= 5:
        decoder_training = DecoderTraining(
            rates=products.rates[training], targets=targets[training], latents=products.latents[training]
        )
    conditions = trial_conditions(data, condition_columns)
    recorded_bins = data.mask.any(axis=2)  # (B, T): False on padding and where no channel was recorded
    if reference_states is not None:
        reference_states = np.where(recorded_bins, np.asarray(reference_states), -1)
    forward_counts, forward_rates = _forward_prediction(data, forecasts, scored)
    metrics = evaluate_arrays(
        data.values[evaluation],
        products.rates[evaluation],
        data.held_out if data.held_out.any() else None,
        observed_mask=data.mask[evaluation],
        observation="poisson" if data.observation == "counts" else "gaussian",
        bin_width_s=data.bin_width_s,
        conditions=None if conditions is None else conditions[evaluation],
        psth_smoothing_sd_bins=PSTH_SMOOTHING_SD_S / data.bin_width_s if data.observation == "counts" else 0.0,
        psth_counts=None if conditions is None else np.where(data.mask, data.values, np.nan),
        psth_conditions=conditions,
        latents=products.latents[evaluation],
        targets=None if targets is None else targets[evaluation],
        decoder_training=decoder_training,
        reference_states=None if reference_states is None else reference_states[evaluation],
        # padding read back from a file holds state -1; its reference is -1 (unlabelled) there, so any label does
        estimated_states=None if products.states is None else np.where(recorded_bins, products.states, 0)[evaluation],
        generated=None if products.samples is None else products.samples.observations,
        forecasts=None if forecasts is None else forecasts.select(scored).k_step,
        forward_counts=forward_counts,
        forward_rates=forward_rates,
    )
    return {f"{split}_{name}": value for name, value in metrics.items()}


def _forward_prediction(
    data: NeuralData, forecasts: Forecasts | None, evaluation: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Observed values and predictions (B_eval, T − s, D) of the forward tail of the evaluation windows.

    Bins outside a unit's observation intervals are NaN in both, so they are left out of fp-bps / fp-MSE.
    """
    if forecasts is None:
        return None, None
    tail = slice(forecasts.forward_start, None)
    observed = data.mask[evaluation, tail]
    counts = np.where(observed, data.values[evaluation, tail], np.nan)
    return counts, np.where(observed, forecasts.select(evaluation).forward[:, tail], np.nan)


def trial_conditions(data: NeuralData, condition_columns: Sequence[str] | None = None) -> np.ndarray | None:
    """Condition code (B,) ints of every window, from the joint value of trials columns; None without a condition.

    Windows that do not come from trials (no trials table) have no condition. Naming a column the trials table
    lacks raises ConfigError.
    """
    trials = data.session.trials
    if "start_time" not in trials:
        if condition_columns:
            raise ConfigError(
                f"condition columns {list(condition_columns)} need a trials table; the source has none"
            )
        return None
    if condition_columns:
        missing = [name for name in condition_columns if name not in trials]
        if missing:
            raise ConfigError(f"trials table has no column(s) {missing}; available: {sorted(trials)}")
        columns = tuple(condition_columns)
    else:
        columns = next(
            (choice for choice in CONDITION_COLUMN_CHOICES if all(name in trials for name in choice)), ()
        )
        if not columns:
            return None
    keys = np.stack([np.asarray(trials[name]).astype(str) for name in columns], axis=1)
    _, codes = np.unique(keys, axis=0, return_inverse=True)
    return codes.reshape(-1)[data.trial_ids]


def event_epoch_labels(data: NeuralData, event_columns: Sequence[str]) -> np.ndarray:
    """Reference states (B, T) from trial events: 0 before the first event column's time, k after the k-th.

    event_columns: trials columns holding event times in seconds (e.g. ``go_cue_time``, ``move_onset_time``);
    a bin counts as after an event when its centre is at or after the event time.
    """
    trials = data.session.trials
    missing = [name for name in event_columns if name not in trials]
    if "start_time" not in trials or missing:
        raise ConfigError(
            f"--labels events needs trials columns {list(event_columns)}; the trials table has "
            f"{sorted(trials) if trials else 'no columns (no trials table)'}"
        )
    try:
        event_times = np.stack([np.asarray(trials[name], dtype=np.float64) for name in event_columns], axis=1)
    except ValueError as error:
        raise ConfigError(
            f"trials columns {list(event_columns)} must hold event times in seconds ({error})"
        ) from None
    bin_centres_s = data.bin_start_s + data.bin_width_s / 2
    return epoch_labels_from_events(bin_centres_s, event_times[data.trial_ids])


def evaluate_result(
    path: str | Path, load_session: SessionLoader, labels: str | None = None, source: str | None = None
) -> dict[str, float]:
    """Recompute every applicable metric of the result file at ``path``.

    ``load_session`` re-extracts the source recorded in the file with the fit's configuration (``nwb_dyn.api``
    passes its cached extraction); ``source`` names it when the recorded one cannot be found (a local source is
    recorded by file name and sha256 only, see :func:`source_of_result`). ``labels`` gives reference states:
    ``events:COL[,COL...]`` (trial event columns, see :func:`event_epoch_labels`) or a ``.npy`` file of integer
    labels, one per result row (N,) or per fitted window and bin (B, T), windows in the file's (time) order,
    negative for unlabelled bins.
    """
    result = read(path)
    identity, data = load_session(source or source_of_result(result), config_of_result(result))
    recorded_sha256 = result.provenance["source"].get("sha256")
    if recorded_sha256 and identity.sha256 and recorded_sha256 != identity.sha256:
        raise OutputError(
            f"the source of {result.path} ({identity.location}) has changed since the fit (sha256 "
            f"{identity.sha256[:12]}... instead of {recorded_sha256[:12]}...); fit again to evaluate it"
        )
    order = window_order(result, data)
    products = ModelProducts(
        family=result.stored_model.family,
        latents=_in_data_order(result.per_window(result.latents), order),
        latent_estimate=result.latent_estimate,
        rates=data.in_model_units(_in_data_order(result.per_window(result.rates), order)),  # the file: source units
        weights={},
        hyperparameters=result.stored_model.hyperparameters,
        states=None if result.states is None else _in_data_order(result.per_window(result.states), order),
        samples=None
        if result.samples is None
        else replace(result.samples, observations=data.in_model_units(result.samples.observations)),
    )
    reference = None if labels is None else reference_labels(labels, data, result, order)
    return fit_metrics(data, products, reference_states=reference, forecasts=result_forecasts(result, data))


def result_forecasts(result: FitResult, data: NeuralData) -> Forecasts | None:
    """Forecasts of ``data``'s windows by the model rebuilt from ``result`` (None if its family has none).

    The forecast filter uses the generative model alone and the fit's seed, so these equal the fit-time forecasts.
    A result whose stored model cannot be rebuilt still gets every metric that needs only its arrays: the forecast
    metrics are left out with a warning naming why.
    """
    from nwb_dyn.training.families import FAMILIES  # imports Lightning: only when a model is rebuilt

    family = FAMILIES.get(result.stored_model.family)
    if family is None or family.forecast is None:
        return None
    try:
        model = result.model
    except OutputError as error:
        warnings.warn(f"no k-step forecasts: {error}", stacklevel=2)
        return None
    return family.forecast(model, data, config_of_result(result))


def source_of_result(result: FitResult) -> str:
    """The SOURCE string that names the session a result was fitted on (a path, a URL or a dandiset asset).

    A local source is recorded by its path relative to the fit's working directory (or its file name) and sha256,
    never by an absolute path of the fitting machine; it is looked for from the working directory, the result's
    folder and the folder above it (files written before this rule, with absolute paths, are found where they were).
    """
    source = result.provenance["source"]
    if source.get("kind") == "dandi":
        return f"dandiset:{source['dandiset_id']}@{source['dandiset_version']}/{source['asset_path']}"
    location = str(source["location"])
    if source.get("kind") != "local":
        return location
    recorded = Path(location)
    folders = (Path.cwd(), result.path.parent, result.path.parent.parent)
    names = [recorded] if recorded.is_absolute() else [folder / recorded for folder in folders]
    candidates = names + [folder / recorded.name for folder in folders[1:]]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    sha256 = source.get("sha256")
    raise OutputError(
        f"the source of {result.path} is recorded as {location}"
        + (f" (sha256 {sha256[:12]}...)" if sha256 else "")
        + f", and no such file is in {', '.join(str(folder) for folder in folders)}; pass --source PATH to name it"
    )


def config_of_result(result: FitResult) -> FitConfig:
    """The fit's resolved configuration, rebuilt from the JSON the result file records."""
    return resolve_config(None, _dotted_keys(result.provenance["config"]))


def _dotted_keys(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"data": {"bin_width_s": 0.02}} -> {"data.bin_width_s": 0.02} (the form ``resolve_config`` overrides take)."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(_dotted_keys(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def window_order(result: FitResult, data: NeuralData) -> np.ndarray:
    """(B,) data row of each of the result's windows (the file stores windows in time order).

    Raises OutputError when the re-extracted windows or channels differ from the fitted ones.
    """
    order = np.argsort(data.window_intervals_s[:, 0], kind="stable")
    same_windows = order.size == result.windows.start_s.size and np.allclose(
        data.window_intervals_s[order, 0], result.windows.start_s
    )
    same_channels = np.array_equal(np.asarray(data.channel_ids, dtype=np.int64), result.channel_ids)
    if not (same_windows and same_channels):
        raise OutputError(
            f"the windows or channels extracted from the source of {result.path} differ from those the fit "
            "recorded; the source or nwb-dyn's extraction changed since the fit, so fit again to evaluate it"
        )
    return order


def _in_data_order(per_window_in_time_order: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(B, T, ...) windows in time order -> the same windows in ``NeuralData`` row order."""
    in_data_order = np.empty_like(per_window_in_time_order)
    in_data_order[order] = per_window_in_time_order
    return in_data_order


def reference_labels(labels: str, data: NeuralData, result: FitResult, order: np.ndarray) -> np.ndarray:
    """Reference states (B, T) in data order from ``--labels`` (see :func:`evaluate_result` for the forms)."""
    if labels.startswith("events:"):
        columns = [name for name in labels.removeprefix("events:").split(",") if name]
        if not columns:
            raise ConfigError(
                "--labels events: needs trials column names, e.g. events:go_cue_time,move_onset_time"
            )
        return event_epoch_labels(data, columns)
    path = Path(labels).expanduser()
    if not path.is_file():
        raise ConfigError(f"--labels {labels} is neither events:COLUMNS nor an existing .npy file")
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ConfigError(f"--labels file {path} is not a readable .npy array ({error})") from None
    num_windows, num_bins = data.num_windows, data.num_bins
    if values.shape == (num_windows * num_bins,):
        values = values.reshape(num_windows, num_bins)
    if values.shape != (num_windows, num_bins) or not np.issubdtype(values.dtype, np.integer):
        raise ConfigError(
            f"--labels file {path} holds {values.dtype} {values.shape}; it needs integer labels of shape "
            f"({num_windows * num_bins},) or ({num_windows}, {num_bins}) (windows in time order, as in {result.path})"
        )
    return _in_data_order(values.astype(np.int64), order)


def format_metrics(metrics: dict[str, float], as_json: bool) -> str:
    """Metrics as one JSON object (NaN, "not scorable", as null) or as aligned ``name  value`` lines."""
    if as_json:
        return json.dumps(
            {name: (None if np.isnan(value) else value) for name, value in sorted(metrics.items())}
        )
    width = max((len(name) for name in metrics), default=0)
    return "\n".join(f"{name:<{width}}  {value:.6g}" for name, value in sorted(metrics.items()))
