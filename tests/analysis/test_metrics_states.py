"""State accuracy and confusion after label matching, against hand counts and brute-force matching."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from nwb_dyn.analysis.metrics import (
    across_seed_state_variability,
    epoch_labels_from_events,
    match_states,
    switch_lags,
)
from nwb_dyn.errors import ConfigError


def test_hand_confusion_accuracy_and_balanced_accuracy() -> None:
    reference = np.array([[0, 0, 0, 1, 1, -1]])
    estimated = np.array([[2, 2, 1, 0, 2, 0]])
    # Labelled pairs (ref, est): (0,2) (0,2) (0,1) (1,0) (1,2). Best one-to-one: est 2 -> ref 0 (2 bins),
    # est 0 -> ref 1 (1 bin); est 1 stays unmatched. Accuracy 3/5; recalls 2/3 and 1/2 -> balanced 7/12.
    result = match_states(reference, estimated)
    assert result.accuracy == pytest.approx(3 / 5)
    assert result.balanced_accuracy == pytest.approx(7 / 12)
    np.testing.assert_array_equal(result.mapping, [1, -1, 0])
    np.testing.assert_array_equal(result.confusion, [[2, 0, 1], [1, 1, 0]])
    identity = match_states(reference, estimated, matching="identity")
    # Identity: est 0 == ref 0 never; est 1 == ref 1 never (ref 0 bin); est 2 has no reference state.
    assert identity.accuracy == 0.0


def test_hungarian_accuracy_equals_brute_force_over_all_relabellings() -> None:
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 4, size=(3, 20))
    estimated = np.where(rng.random((3, 20)) < 0.7, (reference + 1) % 4, rng.integers(0, 4, size=(3, 20)))
    best = max(np.mean(np.array(order)[estimated] == reference) for order in permutations(range(4)))
    assert match_states(reference, estimated).accuracy == pytest.approx(best)


def test_state_accuracy_is_invariant_to_permuting_labels() -> None:
    rng = np.random.default_rng(1)
    reference = rng.integers(0, 3, size=(4, 30))
    estimated = np.where(rng.random((4, 30)) < 0.8, reference, rng.integers(0, 3, size=(4, 30)))
    base = match_states(reference, estimated)
    for order in permutations(range(3)):
        relabelled = np.array(order)[estimated]
        permuted_reference = np.array(order)[reference]
        assert match_states(reference, relabelled).accuracy == pytest.approx(base.accuracy)
        assert match_states(reference, relabelled).balanced_accuracy == pytest.approx(base.balanced_accuracy)
        assert match_states(permuted_reference, estimated).accuracy == pytest.approx(base.accuracy)


def test_epoch_labels_count_events_and_ignore_missing_ones() -> None:
    bin_times = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    events = np.array([[0.1, 0.35], [np.nan, 0.2]])
    np.testing.assert_array_equal(
        epoch_labels_from_events(bin_times, events), [[0, 1, 1, 1, 2], [0, 0, 1, 1, 1]]
    )


def test_across_seed_variability_is_zero_for_relabelled_copies_and_positive_otherwise() -> None:
    states = np.array([[0, 0, 1, 1, 2, 2]])
    assert across_seed_state_variability([states, (states + 1) % 3, 2 - states]) == 0.0
    different = np.array([[0, 1, 0, 1, 0, 1]])
    # Against `states`, the best matching agrees on 2 of 6 bins (e.g. 0->0 on bin 0, 1->1 on bin 3): 1 − 2/6.
    assert across_seed_state_variability([states, different]) == pytest.approx(1 - 2 / 6)


def test_match_states_rejects_unlabelled_input() -> None:
    with pytest.raises(ConfigError, match="no labelled bin"):
        match_states(np.full((1, 3), -1), np.zeros((1, 3), dtype=int))


def test_switch_lags_measure_late_switches_with_their_labels_matched() -> None:
    reference = np.zeros((2, 40), dtype=int)
    reference[:, 20:] = 1
    late = 1 - np.roll(reference, 5, axis=1)  # swapped labels, switching 5 bins late, plus one stray bin
    late[:, :5] = 1
    late[1, 30] = 1
    timing = switch_lags(reference, late)
    assert timing.lags_bins.tolist() == [5, 5]
    assert (timing.mismatched_in_lags, timing.mismatched_bins) == (10, 11)  # the stray bin lies outside both lags
    exact = switch_lags(reference, 1 - reference)
    assert exact.lags_bins.tolist() == [0, 0] and exact.mismatched_bins == 0
    brief = np.zeros((1, 40), dtype=int)
    brief[0, 10:14] = 1  # two reference switches, 4 bins apart; the estimate switches once, late for both
    one_late = np.zeros((1, 40), dtype=int)
    one_late[0, 18:] = 1
    overlapping = switch_lags(brief, one_late)
    # the best relabelling swaps the labels; 4 of the 14 mismatched bins lie in the overlapping lag intervals, each
    # counted once
    assert overlapping.lags_bins.tolist() == [8, 4]
    assert (overlapping.mismatched_in_lags, overlapping.mismatched_bins) == (4, 14)


def test_switch_lags_ignore_padding_after_a_short_window() -> None:
    reference = np.array([[0, 0, 1, 1, -1, -1], [0, 0, 0, 1, 1, 1]])
    estimated = np.array([[0, 0, 0, 1, -1, -1], [0, 0, 0, 0, 1, 1]])  # −1: padding, as FitResult.per_window pads
    timing = switch_lags(reference, estimated)
    assert timing.lags_bins.tolist() == [1, 1]
    assert (timing.mismatched_in_lags, timing.mismatched_bins) == (2, 2)
