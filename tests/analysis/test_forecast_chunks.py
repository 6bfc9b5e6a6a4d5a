"""Forecasts of chosen windows, rolled to the scored leads only, in memory-sized chunks; and the posterior's chunks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nwb_dyn.analysis import lowrank_forecast, srnn_forecast
from nwb_dyn.analysis.chunking import windows_per_chunk
from nwb_dyn.analysis.forecast import Forecasts, scored_windows
from nwb_dyn.analysis.lowrank_posterior import lowrank_posterior
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.models.srnn import SwitchingRNN
from nwb_dyn.testing import mock_neural_data


def _model() -> LowRankRNN:
    torch.manual_seed(0)
    return LowRankRNN(rank=2, num_units=8, num_channels=5, activation="clipped_relu").eval()


def test_rolling_to_the_scored_leads_gives_the_same_forecasts_as_every_lead() -> None:
    model = _model()
    particles = torch.randn(16, 3, 7, 2, generator=torch.Generator().manual_seed(0))
    weights = torch.softmax(torch.randn(16, 3, 7, generator=torch.Generator().manual_seed(1)), dim=0)
    origins = torch.arange(7)
    every = lowrank_forecast.roll_forward(
        model, particles, weights, None, origins, tuple(range(1, 11)), torch.Generator().manual_seed(2)
    )
    scored = lowrank_forecast.roll_forward(
        model, particles, weights, None, origins, (1, 5, 10), torch.Generator().manual_seed(2)
    )
    assert len(every) == 10 and len(scored) == 3
    for lead, prediction in zip((1, 5, 10), scored):
        torch.testing.assert_close(prediction, every[lead - 1], rtol=1e-6, atol=1e-6)
        assert prediction.shape == (3, 7, 5)


@pytest.mark.parametrize("family", ["lowrank", "srnn"])
def test_only_the_chosen_windows_are_forecast_and_select_maps_them(family: str) -> None:
    if family == "lowrank":
        model = _model()
        _, observations = model.generate(6, 20, generator=torch.Generator().manual_seed(1))
        forecast = lowrank_forecast.forecast_windows
    else:
        torch.manual_seed(0)
        model = SwitchingRNN(num_states=2, latent_dim=2, observation_dim=5, emission="poisson")
        observations = model.generate(6, 20, generator=torch.Generator().manual_seed(1)).observations
        forecast = srnn_forecast.forecast_windows
    values, mask = observations.numpy(), np.ones(observations.shape, dtype=bool)
    chosen = np.array([4, 1])
    # a budget of one window per chunk: the chunks hold one window each
    found = forecast(model, values, mask, 32, seed=0, windows=chosen, memory_budget_bytes=1)
    assert isinstance(found, Forecasts)
    assert found.forward.shape == (2, 20, 5) and all(f.shape == (2, 20, 5) for f in found.k_step.values())
    np.testing.assert_array_equal(found.windows, chosen)
    picked = found.select(np.array([1, 4]))
    np.testing.assert_array_equal(picked.forward, found.forward[::-1])
    np.testing.assert_array_equal(picked.k_step[5], found.k_step[5][::-1])
    assert np.isfinite(found.k_step[1][:, 1:]).all() and np.isnan(found.k_step[1][:, 0]).all()
    with pytest.raises(ValueError, match=r"windows \[0\] were not forecast"):
        found.select(np.array([0, 1]))


def test_scored_windows_are_the_validation_split_when_there_is_one() -> None:
    data = mock_neural_data(num_windows=10, seed=0)
    validation = data.split_indices("val")
    assert validation.size and set(scored_windows(data)) == set(validation)
    data.split[:] = "train"
    np.testing.assert_array_equal(scored_windows(data), np.arange(10))


def test_windows_per_chunk_follows_the_budget() -> None:
    assert windows_per_chunk(10 * 2**20, 256 * 2**20) == 25
    assert windows_per_chunk(10**12, 256 * 2**20) == 1
    with pytest.raises(ValueError, match="budget"):
        windows_per_chunk(10, 0)


def test_posterior_chunking_keeps_every_window_and_its_order() -> None:
    """One window per chunk or all at once: the same windows, each posterior close to the other's (Monte Carlo)."""
    model = _model()
    _, observations = model.generate(5, 15, generator=torch.Generator().manual_seed(3))
    values, mask = observations.numpy(), np.ones(observations.shape, dtype=bool)
    small = lowrank_posterior(model, values, mask, 256, seed=0, memory_budget_bytes=1)
    large = lowrank_posterior(model, values, mask, 256, seed=0)
    assert small.rates.shape == large.rates.shape == values.shape and small.rates.dtype == np.float32
    error = np.abs(small.smoothed_latents - large.smoothed_latents).mean()
    shuffled = np.abs(small.smoothed_latents - large.smoothed_latents[::-1]).mean()
    assert error < 0.25 * shuffled  # window b's posterior stayed at row b
