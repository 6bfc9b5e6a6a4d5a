"""fit_metrics and its helpers on a hand-built NeuralData: the right windows, mask, conditions and labels."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from nwb_dyn.analysis.metrics import co_bps, decoding_r2, match_states, psth_r2
from nwb_dyn.analysis.products import ModelProducts
from nwb_dyn.errors import ConfigError
from nwb_dyn.evaluate import event_epoch_labels, fit_metrics, trial_conditions
from nwb_dyn.extract import NeuralData
from nwb_dyn.extract.session import SessionInfo


def _fitted_session(with_targets: bool = True) -> tuple[NeuralData, ModelProducts]:
    """10 windows x 8 bins x 5 units (last 2 held out), windows 0-5 train, 6-9 val; trial k = window 9 − k."""
    rng = np.random.default_rng(0)
    n_windows, n_bins, n_units = 10, 8, 5
    latents = rng.normal(size=(n_windows, n_bins, 2))
    rates = np.exp(0.3 * latents @ rng.normal(size=(2, n_units)))
    counts = rng.poisson(rates).astype(np.float32)
    mask = np.ones(counts.shape, dtype=bool)
    mask[7, :3, 4] = False
    starts = 2.0 * np.arange(n_windows)[::-1].copy()
    trials = {
        "start_time": 2.0 * np.arange(n_windows),
        "stop_time": 2.0 * np.arange(n_windows) + 0.8,
        "trial_type": np.array(["a", "b"] * 5),
        "trial_version": np.array([0, 0, 1, 1, 0, 0, 1, 1, 0, 0]),
        "go_cue_time": 2.0 * np.arange(n_windows) + 0.3,
    }
    session = SessionInfo(
        identifier="test",
        session_description="hand-built",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        trials=trials,
    )
    data = NeuralData(
        values=counts,
        mask=mask,
        bin_start_s=starts[:, None] + 0.1 * np.arange(n_bins)[None],
        bin_width_s=0.1,
        trial_ids=np.arange(n_windows)[::-1].copy(),
        window_intervals_s=np.stack([starts, starts + 0.8], axis=1),
        channel_ids=np.arange(n_units),
        observation="counts",
        data_path="units",
        split=np.array(["train"] * 6 + ["val"] * 4),
        held_out=np.array([False, False, False, True, True]),
        session=session,
        targets=(latents @ np.array([[1.0], [-1.0]])).astype(np.float32) if with_targets else None,
    )
    products = ModelProducts(
        family="test",
        latents=latents,
        latent_estimate="smoothed",
        rates=rates,
        weights={},
        hyperparameters={},
        states=(latents[..., 0] > 0).astype(int),
    )
    return data, products


def test_fit_metrics_score_the_validation_windows_with_the_observation_mask() -> None:
    data, products = _fitted_session()
    labels = 1 - products.states
    metrics = fit_metrics(data, products, reference_states=labels)
    assert all(name.startswith("val_") for name in metrics)  # every stored metric names its split
    val = slice(6, None)
    masked_counts = np.where(data.mask, data.values, np.nan)
    assert metrics["val_co_bps"] == pytest.approx(co_bps(masked_counts[val], products.rates[val], data.held_out))
    expected_r2 = decoding_r2(products.rates[:6], data.targets[:6], products.rates[val], data.targets[val])
    assert metrics["val_behaviour_r2_rates"] == pytest.approx(expected_r2)
    assert metrics["val_state_accuracy"] == match_states(labels[val], products.states[val]).accuracy == 1.0
    # NLB's PSTH R²: spikes smoothed with a 50 ms kernel (0.5 bins of 0.1 s), the PSTH over every window.
    conditions = trial_conditions(data)
    expected_psth = psth_r2(
        masked_counts[val], products.rates[val], conditions[val], 0.5, psth_counts=masked_counts,
        psth_conditions=conditions,
    )  # fmt: skip
    assert metrics["val_psth_r2"] == pytest.approx(expected_psth)
    assert "val_trial_d_stsp" not in metrics  # no generated samples


def test_without_validation_windows_the_metrics_are_named_in_sample() -> None:
    data, products = _fitted_session()
    data.split[:] = "train"
    metrics = fit_metrics(data, products)
    assert metrics and all(name.startswith("train_") for name in metrics)
    masked_counts = np.where(data.mask, data.values, np.nan)
    assert metrics["train_co_bps"] == pytest.approx(co_bps(masked_counts, products.rates, data.held_out))


def test_padding_is_not_scored_as_states() -> None:
    data, products = _fitted_session()
    data.mask[8, 5:] = False  # window 8 is a short trial: its last 3 bins are padding
    data.window_intervals_s[8, 1] = data.window_intervals_s[8, 0] + 0.5
    labels = products.states.copy()
    wrong = labels.copy()
    wrong[8, 5:] = 1 - wrong[8, 5:]  # labels in the padding disagree with the states there
    assert fit_metrics(data, products, reference_states=wrong)["val_state_accuracy"] == 1.0


def test_trial_conditions_join_type_and_version_in_window_order() -> None:
    data, _ = _fitted_session()
    # Trials 0..9 have (type, version) a0 b0 a1 b1 a0 b0 a1 b1 a0 b0 -> codes 0 2 1 3 0 2 1 3 0 2; windows reverse them.
    np.testing.assert_array_equal(trial_conditions(data), [2, 0, 3, 1, 2, 0, 3, 1, 2, 0])
    np.testing.assert_array_equal(trial_conditions(data, ["trial_type"]), [1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    with pytest.raises(ConfigError, match=r"trials table has no column\(s\) \['maze'\]"):
        trial_conditions(data, ["maze"])


def test_event_epoch_labels_switch_at_the_go_cue() -> None:
    data, _ = _fitted_session()
    labels = event_epoch_labels(data, ["go_cue_time"])
    # Bin centres 0.05, 0.15, ... after each window start; the go cue is 0.3 s after it: bins 3.. are epoch 1.
    np.testing.assert_array_equal(labels, np.repeat([[0, 0, 0, 1, 1, 1, 1, 1]], 10, axis=0))
    with pytest.raises(ConfigError, match="needs trials columns \\['reward_time'\\]"):
        event_epoch_labels(data, ["reward_time"])
