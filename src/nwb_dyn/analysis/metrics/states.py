"""Discrete-state recovery: accuracy and confusion of estimated states against reference labels, and how late
estimated switches come.

Reference labels come from simulated ground truth or from trial events (the k-th behavioural epoch of a trial is
state k, see :func:`epoch_labels_from_events`). A switching model's state indices are arbitrary, so the headline
score matches estimated to reference states one-to-one with the Hungarian algorithm. ``matching="identity"``
(Zhang & Saxena 2024 compare indices directly) means something only when training tied state k to reference label k
(their label-penalty initialisation with the reference labels); it is never a stored metric of a fit.
Labels are (B, T) integer arrays; a negative reference label marks a bin without a label, which is ignored.
"""

from __future__ import annotations

from itertools import combinations
from typing import Literal, NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from nwb_dyn.analysis.metrics._validation import require_labels
from nwb_dyn.errors import ConfigError


class StateMatch(NamedTuple):
    """Agreement between reference and estimated state sequences after relabelling the estimates.

    accuracy: fraction of labelled bins whose relabelled estimate equals the reference.
    balanced_accuracy: mean over reference states of their recall (P2's state-recovery error is 1 − this).
    confusion: (K_ref, K_ref + n_unmatched) counts; row = reference state, column = relabelled estimate, with
        estimated states left without a partner (more estimated than reference states) in the extra columns.
    mapping: (K_est,) reference state each estimated state was mapped to, −1 when unmatched.
    """

    accuracy: float
    balanced_accuracy: float
    confusion: np.ndarray
    mapping: np.ndarray


def confusion_counts(
    reference: np.ndarray, estimated: np.ndarray, n_reference: int, n_estimated: int
) -> np.ndarray:
    """(n_reference, n_estimated) matrix of how many bins carry each (reference, estimated) label pair.

    reference, estimated: 1-D non-negative integer labels of equal length.
    """
    counts = np.zeros((n_reference, n_estimated), dtype=np.int64)
    np.add.at(counts, (reference, estimated), 1)
    return counts


def match_states(
    reference_states: np.ndarray,
    estimated_states: np.ndarray,
    matching: Literal["hungarian", "identity"] = "hungarian",
) -> StateMatch:
    """Score estimated states against reference labels after the best one-to-one relabelling.

    reference_states (B, T) ints, negative = unlabelled; estimated_states (B, T) ints >= 0. With
    ``matching="hungarian"`` the relabelling maximises the number of agreeing bins
    (``scipy.optimize.linear_sum_assignment`` on the confusion counts), so the result does not change when either
    side's labels are permuted; ``"identity"`` keeps estimated index k as reference state k (only meaningful for a
    model trained with these reference labels, see the module docstring).
    """
    reference = require_labels(reference_states, "reference_states", np.shape(reference_states))
    estimated = require_labels(estimated_states, "estimated_states", reference.shape)
    labelled = reference >= 0
    if not np.any(labelled):
        raise ConfigError(
            "reference_states has no labelled bin (all negative); pass labels >= 0 for some bins"
        )
    if np.any(estimated[labelled] < 0):
        raise ConfigError("estimated_states must be >= 0 in every labelled bin")
    reference, estimated = reference[labelled], estimated[labelled]
    n_reference = int(reference.max()) + 1
    n_estimated = int(estimated.max()) + 1
    if matching == "hungarian":
        counts = confusion_counts(reference, estimated, n_reference, n_estimated)
        reference_index, estimated_index = linear_sum_assignment(counts, maximize=True)
        mapping = np.full(n_estimated, -1, dtype=np.int64)
        mapping[estimated_index] = reference_index
    elif matching == "identity":
        mapping = np.arange(n_estimated, dtype=np.int64)
        mapping[mapping >= n_reference] = -1
    else:
        raise ConfigError(f"matching must be 'hungarian' or 'identity'; got {matching!r}")
    # Unmatched estimated states get their own columns after the reference states, so they count as errors.
    unmatched = np.flatnonzero(mapping < 0)
    column_of_state = mapping.copy()
    column_of_state[unmatched] = n_reference + np.arange(unmatched.size)
    relabelled = column_of_state[estimated]
    confusion = confusion_counts(reference, relabelled, n_reference, n_reference + unmatched.size)
    recall_per_state = np.diag(confusion[:, :n_reference]) / np.maximum(confusion.sum(axis=1), 1)
    present = confusion.sum(axis=1) > 0
    return StateMatch(
        accuracy=float(np.mean(relabelled == reference)),
        balanced_accuracy=float(np.mean(recall_per_state[present])),
        confusion=confusion,
        mapping=mapping,
    )


class SwitchLags(NamedTuple):
    """When estimated states switch, against the reference's switches (after the Hungarian relabelling).

    lags_bins: (S,) int64, one per reference switch in a trial where the estimate switches at all: the bin of the
        nearest estimated switch in that trial minus the reference switch's bin (positive: the estimate changes
        later).
    mismatched_bins: labelled bins whose relabelled estimate differs from the reference.
    mismatched_in_lags: how many of those lie between a reference switch and its nearest estimated switch (each bin
        counted once where such intervals overlap): errors of timing rather than of identity.
    """

    lags_bins: np.ndarray
    mismatched_bins: int
    mismatched_in_lags: int


def switch_lags(reference_states: np.ndarray, estimated_states: np.ndarray) -> SwitchLags:
    """How early or late estimated states switch, and how much of the disagreement that timing explains.

    reference_states (B, T) ints, negative = unlabelled (a switch needs two labelled bins); estimated_states (B, T)
    ints >= 0. A trial with reference switches but no estimated switch contributes no lag, and its mismatched bins
    count as outside every lag interval.
    """
    reference = require_labels(reference_states, "reference_states", np.shape(reference_states))
    if reference.ndim != 2:
        raise ConfigError(f"reference_states must be (B, T) (trials x bins); got shape {reference.shape}")
    estimated = require_labels(estimated_states, "estimated_states", reference.shape)
    labelled = reference >= 0
    mapping = match_states(reference, estimated).mapping
    # −1 for an estimated state left without a partner; unlabelled bins (padding) never hold a switch
    relabelled = np.where(labelled, mapping[np.where(labelled, estimated, 0)], -1)
    lags: list[int] = []
    in_lag = np.zeros(reference.shape, dtype=bool)
    for trial, (truth, found, known) in enumerate(zip(reference, relabelled, labelled)):
        between_labelled = known[1:] & known[:-1]
        found_switches = np.flatnonzero((found[1:] != found[:-1]) & between_labelled)
        true_switches = np.flatnonzero((truth[1:] != truth[:-1]) & between_labelled)
        if found_switches.size == 0:
            continue
        for switch in true_switches:
            nearest = int(found_switches[np.argmin(np.abs(found_switches - switch))])
            lags.append(nearest - int(switch))
            low, high = sorted((int(switch), nearest))
            in_lag[trial, low + 1 : high + 1] = True
    mismatched = labelled & (relabelled != reference)
    return SwitchLags(
        lags_bins=np.asarray(lags, dtype=np.int64),
        mismatched_bins=int(mismatched.sum()),
        mismatched_in_lags=int((mismatched & in_lag).sum()),
    )


def epoch_labels_from_events(bin_times_s: np.ndarray, event_times_s: np.ndarray) -> np.ndarray:
    """Behavioural-epoch labels: the number of a trial's events at or before each bin's time.

    bin_times_s (B, T) or (T,) (shared by all trials) bin times in seconds; event_times_s (B, E) per-trial event
    times in seconds (e.g. target on, go cue, movement onset), NaN for an event that did not happen. Returns
    (B, T) ints: 0 before the first event, k after the k-th. This numbers epochs in temporal order, the convention
    under which the switching-model paper compares state indices directly.
    """
    events = np.asarray(event_times_s, dtype=np.float64)
    if events.ndim != 2:
        raise ConfigError(f"event_times_s must be (B, E) (trials x events); got shape {events.shape}")
    times = np.asarray(bin_times_s, dtype=np.float64)
    if times.ndim == 1:
        times = np.broadcast_to(times, (events.shape[0], times.size))
    if times.ndim != 2 or times.shape[0] != events.shape[0]:
        raise ConfigError(
            f"bin_times_s must be (T,) or (B, T) with B = {events.shape[0]} trials; got shape {np.shape(bin_times_s)}"
        )
    # NaN events compare False, so a missing event never advances the epoch.
    return np.sum(events[:, None, :] <= times[:, :, None], axis=-1).astype(np.int64)


def across_seed_state_variability(state_sequences: list[np.ndarray]) -> float:
    """1 − mean Hungarian-matched agreement between every pair of runs' state sequences.

    state_sequences: one (B, T) int array per seed, all for the same trials and bins. 0 when every seed recovers
    the same segmentation up to relabelling; larger when seeds disagree. Used to rank models in ``nwb-dyn select``
    (the switching-model paper ranks K by the variability of recovered states; its exact formula is unpublished).
    """
    if len(state_sequences) < 2:
        raise ConfigError("across-seed variability needs the states of at least two seeds")
    agreements = [match_states(first, second).accuracy for first, second in combinations(state_sequences, 2)]
    return float(1.0 - np.mean(agreements))
