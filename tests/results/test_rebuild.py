"""A model rebuilt from its result file generates exactly what the model that wrote it generates, seed for seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nwb_dyn.analysis.products import GeneratedSamples
from nwb_dyn.errors import OutputError
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.models.srnn import SwitchingRNN
from nwb_dyn.results import read, write_result
from nwb_dyn.results.rebuild import rebuild_model
from nwb_dyn.testing import mock_fit_record, mock_model_products, mock_neural_data

SEED = 7


def _generate(model: torch.nn.Module, steps: int) -> tuple[np.ndarray, np.ndarray]:
    latents, observations = model.generate(3, steps, generator=torch.Generator().manual_seed(SEED))
    return latents.numpy(), observations.numpy()


@pytest.mark.parametrize("activation", ["clipped_relu", "tanh"])
def test_rebuilt_lowrank_model_generates_the_same_samples(activation: str, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = mock_neural_data(num_channels=4)
    hyperparameters = {
        "rank": 2,
        "num_units": 8,
        "num_channels": 4,
        "likelihood": "poisson",
        "activation": activation,
    }
    model = LowRankRNN(**hyperparameters).eval()
    with torch.no_grad():  # move away from the constructor's defaults so a default-built model would differ
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    latents, observations = _generate(model, data.num_bins)
    products = mock_model_products(data, rank=2, num_states=None)
    products.weights = {name: value.numpy().copy() for name, value in model.state_dict().items()}
    products.hyperparameters = hyperparameters
    products.samples = GeneratedSamples(latents=latents, observations=observations, seed=SEED)
    path = write_result(tmp_path / "fit.nwb", data, products, mock_fit_record())

    result = read(path)
    rebuilt = result.model
    assert type(rebuilt) is LowRankRNN and not rebuilt.training
    again_latents, again_observations = _generate(rebuilt, data.num_bins)
    np.testing.assert_array_equal(again_latents, result.samples.latents)
    np.testing.assert_array_equal(again_observations, result.samples.observations)
    assert float(rebuilt.decay.detach()) == float(model.decay.detach())


def test_rebuilt_srnn_generates_the_same_states_latents_and_observations(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(1)
    data = mock_neural_data(num_channels=3)
    hyperparameters = {"num_states": 2, "latent_dim": 2, "observation_dim": 3, "emission": "poisson"}
    model = SwitchingRNN(**hyperparameters).eval()
    sample = model.generate(3, data.num_bins, generator=torch.Generator().manual_seed(SEED))
    products = mock_model_products(data, rank=2, num_states=2)
    products.family = "srnn"
    products.weights = {name: value.numpy().copy() for name, value in model.state_dict().items()}
    products.hyperparameters = hyperparameters
    path = write_result(tmp_path / "fit.nwb", data, products, mock_fit_record())

    rebuilt = read(path).model
    again = rebuilt.generate(3, data.num_bins, generator=torch.Generator().manual_seed(SEED))
    assert type(rebuilt) is SwitchingRNN
    for name in ("states", "latents", "observations"):
        np.testing.assert_array_equal(
            getattr(again, name).numpy(), getattr(sample, name).numpy(), err_msg=name
        )


def test_rebuild_names_the_problem() -> None:
    with pytest.raises(OutputError, match="fit.nwb: model family 'hmm' cannot be rebuilt"):
        rebuild_model("hmm", {}, {}, origin="fit.nwb")
    with pytest.raises(OutputError, match="do not build a LowRankRNN"):
        rebuild_model("lowrank", {"rank": 2}, {}, origin="fit.nwb")
    weights = {"m": np.zeros((4, 2))}
    with pytest.raises(OutputError, match=r"missing \[.*'n'.*\], unexpected \[\]"):
        rebuild_model("lowrank", {"rank": 2, "num_units": 4, "num_channels": 3}, weights, origin="fit.nwb")
