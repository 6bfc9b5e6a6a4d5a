"""The benchmark's baselines and scores (benchmarks/baselines.py) on small synthetic data with a known answer."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import baselines


def _latent_population(seed: int, trials: int = 60, bins: int = 35, units: int = 24):
    """Counts (B, T, D) from a smooth 2-D latent through a log-linear readout, and the true rates."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=(trials, 1))
    time = np.arange(bins)[None, :] / bins
    latent = np.stack([np.sin(2 * np.pi * time + phase), np.cos(2 * np.pi * time + phase)], axis=-1)
    readout = rng.normal(0, 0.8, size=(2, units))
    rates = 0.3 * np.exp(latent @ readout)
    return rng.poisson(rates).astype(float), rates


def test_bits_per_spike_follows_nlb_definition():
    counts, rates = _latent_population(0)
    held_out = np.zeros(counts.shape[-1], dtype=bool)
    held_out[:6] = True
    constant = np.broadcast_to(counts.mean(axis=(0, 1), keepdims=True), counts.shape)
    assert baselines.co_bps(constant, counts, held_out) == pytest.approx(0.0, abs=1e-12)
    assert baselines.co_bps(rates, counts, held_out) > 0.2
    assert baselines.co_bps(np.full_like(rates, 5.0), counts, held_out) < 0
    # The hand-written NLB formula on a tiny example.
    tiny_counts = np.array([[[0.0, 2.0]], [[1.0, 0.0]]])
    tiny_rates = np.array([[[0.5, 1.5]], [[0.5, 0.5]]])
    null = np.array([[[0.5, 1.0]], [[0.5, 1.0]]])

    def nll(r, y):
        from scipy.special import gammaln

        return np.sum(r - y * np.log(r) + gammaln(y + 1))

    expected = (nll(null, tiny_counts) - nll(tiny_rates, tiny_counts)) / 3 / np.log(2)
    assert baselines.bits_per_spike(tiny_rates, tiny_counts) == pytest.approx(expected)


def test_scores_agree_with_the_package_metrics():
    from nwb_dyn.analysis.metrics.nlb import co_bps

    counts, rates = _latent_population(1)
    held_out = np.arange(counts.shape[-1]) % 3 == 0
    assert baselines.co_bps(rates, counts, held_out) == pytest.approx(
        co_bps(counts, rates, held_out), rel=1e-10
    )


def test_poisson_glm_recovers_known_weights():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(4000, 3))
    weights = np.array([[0.5, -0.3], [0.0, 0.4], [-0.6, 0.2]])
    bias = np.array([-1.0, 0.5])
    counts = rng.poisson(np.exp(features @ weights + bias))
    glm = baselines.fit_poisson_glm(features, counts, alpha=0.0)
    np.testing.assert_allclose(glm.weights, weights, atol=0.06)
    np.testing.assert_allclose(glm.bias, bias, atol=0.06)
    shrunk = baselines.fit_poisson_glm(features, counts, alpha=10.0)
    assert np.abs(shrunk.weights).max() < 0.1  # a strong penalty pulls the weights to 0


def test_smoothing_glm_beats_constant_on_held_out_units():
    counts, rates = _latent_population(3, trials=80)
    held_out = np.arange(counts.shape[-1]) < 6
    train, test = counts[:60], counts[60:]
    prediction = baselines.smoothing_glm_baseline(
        train[..., ~held_out],
        train[..., held_out],
        test[..., ~held_out],
        bin_width_s=0.02,
        sds_s=(0.04, 0.06),
        alphas=(0.01, 0.1),
    )
    score = baselines.co_bps(prediction.heldout_rates, test[..., held_out], np.ones(6, dtype=bool))
    truth = baselines.co_bps(rates[60:, :, held_out], test[..., held_out], np.ones(6, dtype=bool))
    assert 0.05 < score <= truth + 0.02
    assert prediction.choice["kernel_sd_s"] in (0.04, 0.06)
    # Shuffling which evaluation trial the held-in spikes come from destroys the prediction.
    shuffled = baselines.smoothing_glm_rates(
        train[..., ~held_out], train[..., held_out], test[::-1][..., ~held_out], 0.06, 0.1, 0.02
    )
    assert baselines.co_bps(shuffled, test[..., held_out], np.ones(6, dtype=bool)) < score - 0.05


def _planted_hmm(seed: int, trials: int = 20, bins: int = 60, units: int = 15):
    rng = np.random.default_rng(seed)
    rates = rng.gamma(2.0, 0.5, size=(3, units))
    transition = np.full((3, 3), 0.025) + np.eye(3) * 0.925
    states = np.zeros((trials, bins), dtype=int)
    states[:, 0] = rng.integers(3, size=trials)
    for t in range(1, bins):
        for trial in range(trials):
            states[trial, t] = rng.choice(3, p=transition[states[trial, t - 1]])
    return rng.poisson(rates[states]).astype(float), states


def test_poisson_hmm_recovers_planted_states():
    counts, states = _planted_hmm(4)
    hmm = baselines.fit_poisson_hmm(counts, 3, seed=0)
    found = hmm.most_likely_states(counts)
    assert baselines.matched_state_accuracy(states, found) > 0.95
    assert (
        baselines.matched_state_accuracy(states, np.random.default_rng(0).integers(3, size=states.shape))
        < 0.5
    )


def test_gaussian_hmm_recovers_planted_states_that_differ_in_mean_and_spread():
    _, states = _planted_hmm(6)
    rng = np.random.default_rng(6)
    means, spreads = rng.normal(0.0, 1.0, size=(3, 4)), np.array([[0.3], [0.6], [1.2]])
    values = means[states] + spreads[states] * rng.standard_normal((*states.shape, 4))
    hmm = baselines.fit_gaussian_hmm(values, 3, seed=0)
    assert baselines.matched_state_accuracy(states, hmm.most_likely_states(values)) > 0.9
    np.testing.assert_allclose(np.sort(np.sqrt(hmm.variances).mean(axis=1)), [0.3, 0.6, 1.2], rtol=0.2)


def test_forward_backward_marginals_match_enumeration():
    rng = np.random.default_rng(5)
    initial = np.array([0.6, 0.4])
    transition = np.array([[0.8, 0.2], [0.3, 0.7]])
    log_emissions = rng.normal(size=(1, 4, 2))
    marginals, _, log_evidence = baselines._forward_backward(initial, transition, log_emissions)
    paths = np.array(np.meshgrid(*[[0, 1]] * 4, indexing="ij")).reshape(4, -1).T
    weights = np.array(
        [
            initial[p[0]]
            * np.prod(transition[p[:-1], p[1:]])
            * np.exp(log_emissions[0, np.arange(4), p].sum())
            for p in paths
        ]
    )
    assert log_evidence == pytest.approx(np.log(weights.sum()))
    brute = np.stack([(weights[:, None] * (paths == 1)).sum(0) / weights.sum()], axis=-1)[..., 0]
    np.testing.assert_allclose(marginals[0, :, 1], brute, atol=1e-12)


def test_label_matching_and_switch_statistics():
    true = np.array([0, 0, 1, 1, 2, 2])
    assert baselines.matched_state_accuracy(true, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    assert baselines.matched_state_accuracy(true, np.array([0, 0, 0, 0, 0, 0])) == pytest.approx(2 / 6)
    states = np.zeros((4, 35), dtype=int)
    states[:, 13:] = 1  # every trial switches at 0.26 s
    assert baselines.fraction_with_switch_near(states, np.full(4, 0.25), 0.02, 0.1) == 1.0
    assert baselines.fraction_with_switch_near(states, np.full(4, 0.6), 0.02, 0.1) == 0.0
    assert baselines.chance_switch_fraction(states, 0.02, 0.1, seed=0) == pytest.approx(0.2 / 0.7, abs=0.03)
    np.testing.assert_allclose(baselines.state_occupancy(states, 3), [13 / 35, 22 / 35, 0.0])


def test_switch_lags_measure_late_switches_with_their_labels_matched():
    true = np.zeros((2, 40), dtype=int)
    true[:, 20:] = 1
    late = 1 - np.roll(true, 5, axis=1)  # swapped labels, switching 5 bins late, plus one stray bin
    late[:, :5] = 1
    late[1, 30] = 1
    lags, share_in_lag = baselines.switch_lags(true, late)
    assert lags.tolist() == [5, 5]
    assert share_in_lag == pytest.approx(10 / 11)  # the stray bin lies outside both lag intervals
    exact_lags, exact_share = baselines.switch_lags(true, 1 - true)
    assert exact_lags.tolist() == [0, 0] and exact_share == 0.0
    brief = np.zeros((1, 40), dtype=int)
    brief[0, 10:14] = 1  # two true switches, 4 bins apart; found switches once, late for both
    one_late = np.zeros((1, 40), dtype=int)
    one_late[0, 18:] = 1
    overlapping_lags, overlapping_share = baselines.switch_lags(brief, one_late)
    # the best relabelling swaps the labels; 4 of the 14 mismatched bins lie in the (overlapping) lag intervals, each
    # counted once
    assert overlapping_lags.tolist() == [8, 4] and overlapping_share == pytest.approx(4 / 14)


def test_gpfa_baseline_predicts_held_out_units():
    pytest.importorskip("elephant", reason="GPFA needs the bench extra: pip install -e .[bench]")
    counts, _ = _latent_population(6, trials=30, bins=20, units=12)
    held_out = np.arange(12) < 3
    train, test = counts[:24], counts[24:]
    prediction = baselines.gpfa_baseline(
        train[..., ~held_out],
        train[..., held_out],
        test[..., ~held_out],
        bin_width_s=0.02,
        latent_dim=2,
        em_max_iters=50,
    )
    assert prediction.heldout_rates.shape == (6, 20, 3)
    assert baselines.co_bps(prediction.heldout_rates, test[..., held_out], np.ones(3, dtype=bool)) > 0.05


MC_MAZE_SMALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "mc_maze_small"
MC_MAZE_SMALL_FILE = MC_MAZE_SMALL / "sub-Jenkins_ses-small_desc-test_ecephys.nwb"


@pytest.mark.skipif(not MC_MAZE_SMALL_FILE.is_file(), reason="needs ../shared/data/mc_maze_small")
def test_validity_split_reaches_nwb_dyn_unchanged(tmp_path):
    """The benchmark's split, written into a copy, is the split nwb-dyn's extractor uses; the source is untouched."""
    import validity
    from pynwb import NWBHDF5IO

    from nwb_dyn.config import DataConfig
    from nwb_dyn.extract import extract_neural_data

    before = MC_MAZE_SMALL_FILE.read_bytes()
    held_out, evaluated = validity.make_split(107, 100, split=3)
    assert held_out.sum() == 27 and evaluated.sum() == 20
    assert not np.array_equal(held_out, validity.make_split(107, 100, split=4)[0])
    copy = validity.write_split_copy(MC_MAZE_SMALL_FILE, tmp_path / "split.nwb", held_out, evaluated)
    assert MC_MAZE_SMALL_FILE.read_bytes() == before
    settings = DataConfig(bin_width_s=0.02, align="move_onset_time", window_s=[-0.25, 0.45])
    with NWBHDF5IO(str(copy), mode="r", load_namespaces=True) as io:
        data = extract_neural_data(io.read(), settings, 0, str(copy))
    np.testing.assert_array_equal(data.held_out, held_out)
    np.testing.assert_array_equal(data.split[np.argsort(data.trial_ids)] == "val", evaluated)
    unit_ids, counts, starts, _ = validity.mc_maze_counts()
    order = np.argsort(data.trial_ids)
    np.testing.assert_array_equal(data.channel_ids, unit_ids)
    np.testing.assert_allclose(data.bin_start_s[order, 0], starts, atol=1e-9)
    assert np.abs(data.values[order] - counts).sum() <= 2  # spikes exactly on a bin edge may fall either side


def test_held_in_smoothing_predicts_a_bin_from_its_neighbours_not_from_itself():
    lone_spike = np.zeros((1, 21, 1))
    lone_spike[0, 10, 0] = 1.0
    smoothed = baselines.leave_bin_out_smooth(lone_spike, 0.04, 0.02)
    assert smoothed[0, 10, 0] == 0.0 and smoothed[0, 9, 0] > 0 and smoothed[0, 11, 0] > 0
    rng = np.random.default_rng(0)
    modulated = 0.2 * np.exp(np.sin(np.arange(50) / 5))[None, :, None] * np.ones((200, 50, 4))
    counts = rng.poisson(modulated).astype(float)
    found = baselines.smoothed_spike_rates_baseline(counts[:150], counts[150:], 0.02)
    true_bps = baselines.bits_per_spike(modulated[150:], counts[150:])
    assert 0.02 < baselines.bits_per_spike(found.rates, counts[150:]) < true_bps
    flat = rng.poisson(0.2, (200, 50, 4)).astype(float)  # nothing to predict: no bits to earn
    flat_found = baselines.smoothed_spike_rates_baseline(flat[:150], flat[150:], 0.02)
    assert baselines.bits_per_spike(flat_found.rates, flat[150:]) < 0.01
