"""The low-rank family's configuration: paper defaults per data type, clear errors, inputs and the encoder wired in."""

from __future__ import annotations

import pytest
import torch

from nwb_dyn.config import resolve_config
from nwb_dyn.data import WindowBatch
from nwb_dyn.errors import ConfigError
from nwb_dyn.training.lowrank_module import LowRankModule, resolve_proposal


def test_auto_picks_the_papers_proposal_and_noise_per_likelihood() -> None:
    settings = resolve_config().lowrank
    assert resolve_proposal(settings, "gaussian") == ("optimal", "full")
    assert resolve_proposal(settings, "poisson") == ("encoder", "diag")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"lowrank.proposal": "optimal", "lowrank.obs": "poisson"}, "lowrank.proposal"),
        ({"lowrank.proposal": "encoder", "lowrank.noise_covariance": "full"}, "lowrank.noise_covariance"),
        ({"lowrank.proposal": "smart"}, "lowrank.proposal"),
        ({"lowrank.encoder_channels": [64]}, "lowrank.encoder_channels"),
        ({"lowrank.link": "relu"}, "lowrank.link"),
    ],
)
def test_bad_combinations_name_the_key(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        resolve_config(overrides=overrides)


def test_auto_optimal_proposal_on_counts_is_refused_with_advice() -> None:
    config = resolve_config(overrides={"lowrank.proposal": "optimal"})
    with pytest.raises(ConfigError, match="--proposal encoder"):
        LowRankModule(config, num_channels=5, likelihood="poisson")


def test_training_step_reaches_inputs_and_encoder() -> None:
    torch.manual_seed(0)
    config = resolve_config(overrides={"lowrank.units": 16, "lowrank.particles": 4, "lowrank.rank": 2})
    module = LowRankModule(config, num_channels=5, likelihood="poisson", num_inputs=2)
    assert module.proposal == "encoder" and module.encoder is not None
    batch = WindowBatch(
        values=torch.poisson(torch.full((3, 12, 5), 2.0)),
        mask=torch.ones(3, 12, 5),
        encoder_mask=torch.ones(3, 12, 5),
        index=torch.arange(3),
        inputs=torch.randn(3, 12, 2),
    )
    loss, _, result = module._loss(batch, stream=0)
    loss.backward()
    assert torch.isfinite(loss)
    assert module.model.input_weights.grad.abs().sum() > 0
    assert module.encoder.mean_head.weight.grad.abs().sum() > 0
    assert 0 < result.encoder_alpha < 1
