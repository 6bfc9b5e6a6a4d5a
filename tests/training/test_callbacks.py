"""Training guards and schedule: the learning-rate factor's closed form, the NaN guard, RNG state in checkpoints."""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from nwb_dyn.config import TrainerConfig
from nwb_dyn.errors import TrainingError
from nwb_dyn.training.callbacks import NonFiniteGuard, RandomStateCheckpoint, learning_rate_factor


def test_learning_rate_factor_warms_up_then_follows_the_cosine() -> None:
    settings = TrainerConfig(max_epochs=12, lr_warmup_epochs=2, lr_min_factor=0.1, lr_schedule="cosine")
    assert learning_rate_factor(0, settings) == pytest.approx(1 / 3)
    assert learning_rate_factor(1, settings) == pytest.approx(2 / 3)
    assert learning_rate_factor(2, settings) == pytest.approx(1.0)
    assert learning_rate_factor(7, settings) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert learning_rate_factor(12, settings) == pytest.approx(0.1)
    constant = TrainerConfig(max_epochs=12, lr_schedule="constant")
    assert [learning_rate_factor(e, constant) for e in (0, 6, 11)] == [1.0, 1.0, 1.0]


class _DivergesAtStep(pl.LightningModule):
    """A linear regression whose loss is multiplied by inf from step ``bad_step`` on."""

    def __init__(self, bad_step: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.bad_step = bad_step

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = ((self.layer(inputs) - targets) ** 2).mean()
        return loss * float("inf") if self.global_step >= self.bad_step else loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("check_gradients, message", [(True, "gradient of 'layer."), (False, "objective became")])
def test_non_finite_guard_names_the_step(tmp_path: Path, check_gradients: bool, message: str) -> None:
    data = DataLoader(TensorDataset(torch.randn(8, 2), torch.randn(8, 1)), batch_size=2)
    trainer = pl.Trainer(
        max_epochs=1, callbacks=[NonFiniteGuard(check_gradients)], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )
    with pytest.raises(TrainingError, match=f"{message}.*at step 2 .*--learning-rate"):
        trainer.fit(_DivergesAtStep(bad_step=2), data)


def test_random_state_survives_a_weights_only_round_trip() -> None:
    callback = RandomStateCheckpoint()
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in numpy's state
    buffer = io.BytesIO()
    torch.save(callback.state_dict(), buffer)
    expected = torch.rand(3), np.random.standard_normal(3), random.random()
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    buffer.seek(0)
    callback.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.standard_normal(3), expected[1])
    assert random.random() == expected[2]
