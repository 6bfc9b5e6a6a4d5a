"""k-step-ahead forecasts: alignment plumbing, the Kalman oracle for the low-rank model, and causality for both
families (a forecast made at t never reads y_{t+1:T})."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nwb_dyn.analysis import lowrank_forecast, srnn_forecast
from nwb_dyn.analysis.forecast import forecast_horizons, forward_start, place_ahead
from nwb_dyn.inference.kalman import kalman_filter
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.models.srnn import SwitchingRNN
from tests.helpers import linear_gaussian_lowrank


def test_horizons_are_clipped_to_the_window_and_the_forward_tail_is_a_fifth() -> None:
    assert forecast_horizons(35) == (1, 5, 10)
    assert forecast_horizons(6) == (1, 5)
    assert forecast_horizons(3) == (1, 2)
    assert forecast_horizons(1) == ()
    assert forward_start(35) == 28 and forward_start(10) == 8 and forward_start(2) == 1


def test_place_ahead_moves_each_prediction_to_the_bin_it_predicts() -> None:
    from_origin = np.arange(6, dtype=np.float32).reshape(1, 6, 1)  # made at bin t for bin t + 2
    placed = place_ahead(from_origin, 2)
    assert np.isnan(placed[0, :2, 0]).all()
    np.testing.assert_array_equal(placed[0, 2:, 0], [0, 1, 2, 3])


def _linear_gaussian_model() -> LowRankRNN:
    return linear_gaussian_lowrank()


def _kalman_forecasts(model: LowRankRNN, observations: torch.Tensor, lead: int) -> np.ndarray:
    """(B, T, D) exact E[y_{t+lead} | y_{≤t}] placed at t + lead: the filtered mean pushed through A, b ``lead`` times."""
    with torch.no_grad():
        transition = model.decay * torch.eye(model.rank, dtype=torch.float64) + model.n @ model.m
        offset = -(model.n @ model.h)
        filtered = kalman_filter(
            observations,
            model.initial_mean,
            model.initial_noise.covariance(),
            transition,
            offset,
            model.transition_noise.covariance(),
            model.readout_matrix(),
            model.readout_offset(None),
            model.likelihood.variance(),
        ).filtered_means
        state = filtered
        for _ in range(lead):
            state = state @ transition.T + offset
        return place_ahead((state @ model.readout_matrix() + model.readout_offset(None)).numpy(), lead)


def test_linear_gaussian_forecasts_converge_to_the_kalman_predictive_mean() -> None:
    model = _linear_gaussian_model()
    _, observations = model.generate(3, 12, generator=torch.Generator().manual_seed(1))
    values, mask = observations.numpy(), np.ones(observations.shape, dtype=bool)
    errors = {}
    for particles in (16, 4096):
        forecasts = lowrank_forecast.forecast_windows(model, values, mask, particles, seed=0)
        for lead in (1, 5):
            exact = _kalman_forecasts(model, observations, lead)
            errors[particles, lead] = np.nanmax(np.abs(forecasts.k_step[lead] - exact))
        # the forward tail is the forecast from bin s − 1: its first bin is the 1-step forecast of bin s
        start = forecasts.forward_start
        exact_tail = _kalman_forecasts(model, observations, 1)[:, start]
        errors[particles, "tail"] = np.abs(forecasts.forward[:, start] - exact_tail).max()
    for key in (1, 5, "tail"):
        assert errors[4096, key] < 0.08, errors
        assert errors[4096, key] < errors[16, key] / 4, errors  # Monte Carlo error ∝ 1/√K: 16× fewer here


def _changed_after(values: np.ndarray, cut: int) -> np.ndarray:
    later = values.copy()
    later[:, cut + 1 :] = later[:, cut + 1 :] * 3 + 2
    return later


def _assert_causal(forecast, values: np.ndarray) -> None:
    """Forecasts made from origins ≤ cut are identical after y_{cut+1:} changes, later ones differ, for a cut
    inside the filtered part and one at the last bin the forward tail is forecast from."""
    mask = np.ones(values.shape, dtype=bool)
    before = forecast(values, mask)
    tail_origin = before.forward_start - 1
    for cut in (12, tail_origin):
        after = forecast(_changed_after(values, cut), mask)
        for lead, predicted in before.k_step.items():
            made_by_cut = slice(lead, cut + lead + 1)  # bins t whose origin t − lead ≤ cut
            np.testing.assert_array_equal(predicted[:, made_by_cut], after.k_step[lead][:, made_by_cut])
            if cut + lead + 1 < values.shape[1]:
                assert not np.allclose(predicted[:, cut + lead + 1 :], after.k_step[lead][:, cut + lead + 1 :])
        tail = slice(before.forward_start, None)
        same_tail = np.array_equal(before.forward[:, tail], after.forward[:, tail])
        assert same_tail == (cut >= tail_origin)


@pytest.mark.parametrize("likelihood", ["poisson", "gaussian"])
def test_lowrank_forecasts_never_read_later_observations(likelihood: str) -> None:
    torch.manual_seed(0)
    model = LowRankRNN(rank=2, num_units=8, num_channels=5, likelihood=likelihood, activation="clipped_relu")
    _, observations = model.generate(4, 30, generator=torch.Generator().manual_seed(1))
    _assert_causal(
        lambda values, mask: lowrank_forecast.forecast_windows(model, values, mask, 32, seed=0),
        observations.numpy(),
    )


@pytest.mark.parametrize("emission", ["poisson", "gaussian"])
def test_srnn_forecasts_never_read_later_observations(emission: str) -> None:
    torch.manual_seed(0)
    model = SwitchingRNN(num_states=3, latent_dim=2, observation_dim=5, emission=emission)
    sample = model.generate(4, 30, generator=torch.Generator().manual_seed(1))
    _assert_causal(
        lambda values, mask: srnn_forecast.forecast_windows(model, values, mask, 64, seed=0),
        sample.observations.numpy(),
    )


def test_srnn_filter_tracks_the_true_state_of_a_clearly_switching_model() -> None:
    """With well-separated state dynamics the filter's state posterior follows the simulated states."""
    torch.manual_seed(0)
    model = SwitchingRNN(num_states=2, latent_dim=2, observation_dim=6, emission="gaussian")
    with torch.no_grad():
        model.recurrent_weight.zero_()
        model.recurrent_bias.copy_(torch.tensor([[1.5, 1.5], [-1.5, -1.5]]))  # state k pins h near ±tanh(1.5)
        model.dynamics_std_raw.fill_(-3.0)
        model.observation_std_raw.fill_(-1.0)
    sample = model.generate(4, 40, generator=torch.Generator().manual_seed(2))
    states, _, log_weights = srnn_forecast.filtering_particles(
        model, sample.observations, torch.ones_like(sample.observations), None, 128, torch.Generator().manual_seed(0)
    )
    probability_state_1 = (torch.softmax(log_weights, 0) * (states == 1)).sum(0)  # (B, T)
    agreement = ((probability_state_1 > 0.5) == (sample.states == 1)).float().mean()
    assert agreement > 0.95
