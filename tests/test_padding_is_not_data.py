"""Padding after a short window never enters a loss, a posterior's evidence or a score (both model families)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nwb_dyn.analysis.metrics import evaluate_arrays
from nwb_dyn.config import resolve_config
from nwb_dyn.data.datamodule import NeuralDataModule, WindowBatch
from nwb_dyn.extract import NeuralData
from nwb_dyn.inference.forward_backward import hmm_log_normalizer
from nwb_dyn.inference.srnn_elbo import bins_in_window, infer_posterior
from nwb_dyn.models.inference_network import BidirectionalEncoder
from nwb_dyn.models.srnn import SwitchingRNN
from nwb_dyn.testing.synthetic import mock_neural_data
from nwb_dyn.training.families import FAMILIES

#: Bins of data in each of the four windows; the rest of each window's 20 bins is padding.
BINS_OF_DATA = [20, 6, 20, 11]


def _padded_data() -> NeuralData:
    data = mock_neural_data(num_windows=4, num_bins=20, num_channels=5)
    in_window = np.arange(20)[None, :] < np.array(BINS_OF_DATA)[:, None]
    data.mask &= in_window[:, :, None]
    data.values[~data.mask] = 0.0
    data.window_intervals_s[:, 1] = data.window_intervals_s[:, 0] + np.array(BINS_OF_DATA) * data.bin_width_s
    return data


def _batch(data: NeuralData, values: np.ndarray) -> WindowBatch:
    """All windows of ``data`` with ``values`` in place of its own, as the training loop batches them."""
    replaced = dataclasses.replace(data, values=values, split=np.full(data.num_windows, "val"))
    return next(iter(NeuralDataModule(replaced, batch_size=data.num_windows, seed=0).val_dataloader()))


def _loss(family: str, data: NeuralData, values: np.ndarray) -> torch.Tensor:
    overrides = {"model": family, "lowrank.units": 12, "lowrank.rank": 2, "lowrank.particles": 8}
    config = resolve_config(
        overrides=overrides if family == "lowrank" else {"model": family, "srnn.states": 2}
    )
    torch.manual_seed(0)
    module = FAMILIES[family].build(config, data)
    batch = _batch(data, values)
    if family == "lowrank":
        return module._loss(batch, stream=0)[0]
    return module._terms(batch, stream=0, with_labels=False)[0]


@pytest.mark.parametrize("family", ["lowrank", "srnn"])
def test_values_in_padded_bins_do_not_change_the_objective(family: str) -> None:
    data = _padded_data()
    assert data.bins_of_data.tolist() == BINS_OF_DATA
    junk = data.values.copy()
    junk[~data.mask] = 7.0  # spikes that are not data: the objective must not see them
    clean, with_junk = _loss(family, data, data.values), _loss(family, data, junk)
    assert torch.isfinite(clean) and clean.item() == with_junk.item()
    changed = data.values.copy()
    changed[1, 2, 0] += 3.0  # a real bin of a short window does count: the test can fail
    assert _loss(family, data, changed).item() != clean.item()


def test_metrics_ignore_padded_bins() -> None:
    data = _padded_data()
    rates = np.random.default_rng(1).uniform(0.5, 2.0, data.values.shape)
    junk_rates = rates.copy()
    junk_rates[~data.mask] = 1e3
    junk_values = data.values.copy()
    junk_values[~data.mask] = 9.0
    held_out = np.array([True, False, False, False, False])
    clean = evaluate_arrays(data.values, rates, held_out, observed_mask=data.mask)
    junk = evaluate_arrays(junk_values, junk_rates, held_out, observed_mask=data.mask)
    assert clean.keys() == junk.keys() and {"co_bps", "heldin_bps"} <= clean.keys()
    assert all(clean[name] == junk[name] for name in clean)


def _srnn_pair() -> tuple[SwitchingRNN, BidirectionalEncoder]:
    torch.manual_seed(3)
    return (
        SwitchingRNN(num_states=2, latent_dim=3, observation_dim=5, emission="poisson"),
        BidirectionalEncoder(5, 3, hidden_size=8, log_transform_observations=True),
    )


def test_a_padded_srnn_window_is_scored_and_decoded_as_the_window_alone() -> None:
    """The SRNN's encoder, chain and posterior treat a short window in a padded batch exactly as that window alone:
    the backward LSTM starts at its last bin of data (not in padding read as silence), padding latents score nothing,
    and its state stays put after its end."""
    model, encoder = _srnn_pair()
    data = _padded_data()
    values = torch.as_tensor(data.values)
    mask = torch.as_tensor(data.mask, dtype=torch.float32)
    short = 1  # BINS_OF_DATA[1] = 6 bins of data, then 14 bins of padding
    length = BINS_OF_DATA[short]
    with torch.no_grad():
        bins_of_data = torch.as_tensor(data.bins_of_data)
        in_window = bins_in_window(bins_of_data, data.num_bins)
        assert in_window is not None and in_window.sum(dim=1).tolist() == BINS_OF_DATA
        batched = infer_posterior(model, encoder, values, mask=mask, bins_of_data=bins_of_data)
        alone = infer_posterior(
            model, encoder, values[short : short + 1, :length], mask=mask[short : short + 1, :length]
        )
        assert torch.allclose(batched.latents[short, :length], alone.latents[0], atol=1e-6)
        assert torch.allclose(
            batched.state_probabilities[short, :length], alone.state_probabilities[0], atol=1e-5
        )
        assert torch.equal(batched.map_states[short, :length], alone.map_states[0])
        assert torch.allclose(batched.log_joint[short], alone.log_joint[0], rtol=1e-5)
        assert (batched.map_states[short, length:] == batched.map_states[short, length - 1]).all()

        # the objective's parts at the same latents: the chain's normaliser and the posterior's entropy
        latents = batched.latents
        normaliser = hmm_log_normalizer(
            *model.chain_potentials(latents, values, mask=mask, in_window=in_window)
        )
        normaliser_alone = hmm_log_normalizer(
            *model.chain_potentials(latents[short : short + 1, :length], values[short : short + 1, :length])
        )
        assert torch.allclose(normaliser[short], normaliser_alone[0], rtol=1e-5)
        posterior = encoder(values * mask, lengths=in_window.sum(dim=1))
        posterior_alone = encoder(values[short : short + 1, :length])
        assert torch.allclose(posterior.entropy(in_window)[short], posterior_alone.entropy()[0], rtol=1e-5)
        # the same window read as 20 bins, its padding taken for silence: the rule above is what makes them equal
        read_through = encoder(values * mask)
        assert not torch.allclose(read_through.mean[short, :length], alone.latents[0], atol=1e-4)
        unmasked = hmm_log_normalizer(*model.chain_potentials(latents, values, mask=mask))
        assert not torch.allclose(unmasked[short], normaliser_alone[0], rtol=1e-3)
