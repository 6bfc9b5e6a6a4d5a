"""The metrics of one fit, from what the fit produced: the glue between the data path and ``analysis.metrics``.

``fit_metrics`` is called at the end of every fit (its dict is stored in the output NWB) and again by
``nwb-dyn evaluate`` on arrays read back from an output file. It picks the evaluation windows, applies the
unit observation mask, finds trial conditions and behaviour targets, and hands everything to
:func:`nwb_dyn.analysis.metrics.evaluate_arrays`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nwb_dyn.analysis.metrics import DecoderTraining, epoch_labels_from_events, evaluate_arrays
from nwb_dyn.analysis.products import ModelProducts
from nwb_dyn.errors import ConfigError
from nwb_dyn.extract import NeuralData

#: Trials columns that name a trial's condition, in the order tried; NLB's MC_Maze uses the first pair together.
CONDITION_COLUMN_CHOICES: tuple[tuple[str, ...], ...] = (("trial_type", "trial_version"), ("condition",))


def fit_metrics(
    data: NeuralData,
    products: ModelProducts,
    reference_states: np.ndarray | None = None,
    condition_columns: Sequence[str] | None = None,
) -> dict[str, float]:
    """Every applicable metric of a fit, on its validation windows (on all windows when there are none).

    data: the windows the model was fitted on; products: what the fit produced for the same windows (rates and
    latents (B, T, ·), optional states (B, T) and generated samples); reference_states: optional (B, T) ints for
    all windows in ``data`` order (negative = unlabelled), e.g. from :func:`event_epoch_labels`;
    condition_columns: trials columns whose joint value is a trial's condition for PSTH R² (None = the first of
    :data:`CONDITION_COLUMN_CHOICES` present in the trials table).
    """
    evaluation = data.split_indices("val")
    if evaluation.size == 0:
        evaluation = np.arange(data.num_windows)
    training = np.setdiff1d(data.split_indices("train"), evaluation)
    targets = data.targets
    decoder_training = None
    if targets is not None and training.size >= 5:
        decoder_training = DecoderTraining(
            rates=products.rates[training], targets=targets[training], latents=products.latents[training]
        )
    conditions = trial_conditions(data, condition_columns)
    return evaluate_arrays(
        data.values[evaluation],
        products.rates[evaluation],
        data.held_out if data.held_out.any() else None,
        observed_mask=data.mask[evaluation],
        observation="poisson" if data.observation == "counts" else "gaussian",
        bin_width_s=data.bin_width_s,
        conditions=None if conditions is None else conditions[evaluation],
        latents=products.latents[evaluation],
        targets=None if targets is None else targets[evaluation],
        decoder_training=decoder_training,
        reference_states=None if reference_states is None else np.asarray(reference_states)[evaluation],
        estimated_states=None if products.states is None else products.states[evaluation],
        generated=None if products.samples is None else products.samples.observations,
    )


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
