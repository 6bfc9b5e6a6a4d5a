"""The quality line: it flags what is wrong with a fit, says what to try, and never contradicts itself."""

from __future__ import annotations

import numpy as np

from nwb_dyn.analysis.quality import IN_SAMPLE_CAVEAT, MIN_MEAN_RATE_R, assess_fit
from nwb_dyn.testing.synthetic import mock_model_products, mock_neural_data


def _data_with_unit_rates(seed: int = 0):
    """Counts (8, 200, 6) of units with clearly different mean rates, each modulated in time, and the rates (200, 6)."""
    data = mock_neural_data(num_windows=8, num_bins=200, num_channels=6, seed=seed)
    means = np.linspace(0.2, 3.0, data.num_channels)
    phases = np.linspace(0, np.pi, data.num_channels)
    rates = means * (1 + 0.8 * np.sin(2 * np.pi * np.arange(data.num_bins)[:, None] / 50 + phases))
    data.values = np.random.default_rng(seed).poisson(rates, data.values.shape).astype(np.float32)
    return data, rates


def _products(data, rates: np.ndarray, states: np.ndarray | None = None):
    products = mock_model_products(data, num_states=None if states is None else int(states.max()) + 1)
    products.rates = np.broadcast_to(rates, data.values.shape).astype(np.float32).copy()
    if states is not None:
        products.states = states
        products.state_probabilities = np.eye(int(states.max()) + 1)[states]
    return products


def test_the_true_rates_pass_and_a_rate_far_off_is_called_worse_than_constant() -> None:
    data, rates = _data_with_unit_rates()
    good = assess_fit(data, _products(data, rates), "converged")
    assert good.problems == [] and "no problems found" in good.line()
    assert good.mean_rate_r is not None and good.mean_rate_r > 0.99
    assert good.heldin_bps is not None and good.heldin_bps > 0.1

    too_high = assess_fit(data, _products(data, rates * 4 + 2), "converged")
    assert too_high.heldin_bps is not None and too_high.heldin_bps < 0
    assert any(problem.startswith("WORSE THAN A CONSTANT RATE") for problem in too_high.problems)


def test_mean_rates_off_advise_training_longer_only_when_training_did_not_converge() -> None:
    data, rates = _data_with_unit_rates()
    shuffled = rates[:, ::-1].copy()  # every unit gets another unit's rates: r over channels near -1
    converged = assess_fit(data, _products(data, shuffled), "converged")
    capped = assess_fit(data, _products(data, shuffled), "max_steps")
    assert converged.mean_rate_r is not None and converged.mean_rate_r < MIN_MEAN_RATE_R
    loose = [problem for problem in converged.problems if "only loosely" in problem]
    assert loose and "train longer" not in loose[0] and "converged" in loose[0]
    assert "converged" in converged.line() and "train longer" not in converged.line()
    assert any("train longer" in problem for problem in capped.problems)
    assert "NOT converged (stopped by max_steps)" in capped.line()


def test_units_firing_alike_do_not_flag_the_true_rates_but_shuffled_distinct_rates_still_are() -> None:
    # 30 units at one mean rate (≈ 1 spike per bin, like the demo's): their observed means differ by Poisson noise
    # alone, so even the true rates correlate with them only loosely
    data, _ = _data_with_unit_rates()
    rng = np.random.default_rng(3)
    data.values = np.zeros((3, 200, 30), dtype=np.float32)
    data.mask = np.ones(data.values.shape, dtype=bool)
    data.held_out = np.zeros(30, dtype=bool)
    data.channel_ids = np.arange(30)
    data.split = np.array(["val"] * 3)
    modulation = 1 + 0.3 * np.sin(2 * np.pi * np.arange(200)[:, None] / 40 + np.linspace(0, 6, 30))
    true_rates = np.broadcast_to(modulation, data.values.shape)
    data.values = rng.poisson(true_rates).astype(np.float32)
    truth = assess_fit(data, _products(data, modulation), "converged")
    assert truth.mean_rate_r is not None and truth.mean_rate_r < MIN_MEAN_RATE_R  # what the old rule flagged
    assert truth.mean_rate_r_ceiling is not None and truth.mean_rate_r_ceiling < 0.95
    assert not any("only loosely" in problem for problem in truth.problems), (truth.mean_rate_r, truth.mean_rate_r_ceiling, truth.problems)
    assert "(the true rates: ≈" in truth.line()

    distinct, rates = _data_with_unit_rates()  # means 0.2 … 3 spikes per bin: the ceiling is ≈ 1
    shuffled = assess_fit(distinct, _products(distinct, rates[:, ::-1].copy()), "converged")
    assert shuffled.mean_rate_r_ceiling is not None and shuffled.mean_rate_r_ceiling > 0.99
    assert any("only loosely" in problem for problem in shuffled.problems)


def test_a_diverged_fit_is_called_so_and_told_to_lower_the_learning_rate_not_to_train_longer() -> None:
    data, rates = _data_with_unit_rates()
    shuffled = rates[:, ::-1].copy()
    diverged = assess_fit(data, _products(data, shuffled), "diverged")
    assert any(problem.startswith("TRAINING DIVERGED") and "--learning-rate" in problem for problem in diverged.problems)
    assert "DIVERGED" in diverged.line() and "converged" not in diverged.line().replace("DIVERGED", "")
    assert "train longer" not in diverged.line()


def test_a_state_used_in_under_five_percent_of_bins_is_named_with_the_number_of_states_to_try() -> None:
    data, rates = _data_with_unit_rates()
    states = np.zeros(data.values.shape[:2], dtype=np.int64)
    states[:, : data.num_bins // 2] = 1
    states[0, 0] = 2  # state 2 holds one bin
    quality = assess_fit(data, _products(data, rates, states), "converged")
    assert quality.state_occupancy is not None and quality.state_occupancy[2] < 0.05
    assert any(
        "state(s) 2 hold fewer than 5%" in problem and "--states 2" in problem for problem in quality.problems
    )
    assert "states used 2 of 3" in quality.line()


def test_without_held_out_units_the_line_says_its_scores_are_in_sample() -> None:
    data, rates = _data_with_unit_rates()
    in_sample = assess_fit(data, _products(data, rates), "converged")
    assert in_sample.caveats == [IN_SAMPLE_CAVEAT] and in_sample.line().endswith(IN_SAMPLE_CAVEAT)
    assert "--heldout-fraction" in in_sample.line()
    data.observation = "continuous"  # signals: no co-bps to point to, so no caveat that points to it
    assert assess_fit(data, _products(data, rates), "converged").caveats == []
    data.observation = "counts"

    data.held_out[-2:] = True
    with_held_out = assess_fit(data, _products(data, rates), "converged")
    assert with_held_out.co_bps is not None and with_held_out.co_bps > 0
    assert with_held_out.caveats == [] and with_held_out.line().endswith("no problems found")
