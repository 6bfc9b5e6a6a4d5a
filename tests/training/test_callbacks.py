"""Training guards and schedule: training to convergence, the NaN guard, RNG state in checkpoints."""

from __future__ import annotations

import io
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from nwb_dyn.config import TrainerConfig
from nwb_dyn.errors import TrainingError
from nwb_dyn.training.callbacks import ConvergenceSchedule, NonFiniteGuard, RandomStateCheckpoint


def _run_schedule(objectives: list[float], settings: TrainerConfig, steps_per_check: int = 10):
    """Feed a ConvergenceSchedule one objective per check; returns it and the (step, rate, stopped) of each check."""
    schedule = ConvergenceSchedule(settings, check_every_epochs=1, monitor_validation=True)
    trainer = SimpleNamespace(global_step=0, should_stop=False)
    trace = []
    for index, objective in enumerate(objectives):
        trainer.global_step = (index + 1) * steps_per_check
        schedule._check(trainer, objective)
        trace.append((trainer.global_step, schedule.learning_rate(trainer.global_step), trainer.should_stop))
        if trainer.should_stop:
            break
    return schedule, trace


def test_convergence_schedule_halves_on_plateaus_and_stops_after_patience() -> None:
    settings = TrainerConfig(
        learning_rate=1e-2, lr_warmup_steps=0, lr_plateau_steps=30, patience_steps=100, lr_min_factor=0.25
    )
    improving = [10.0 - 0.5 * i for i in range(10)]  # steps 10..100: every check improves
    schedule, trace = _run_schedule(improving + [6.0] * 20, settings)
    rates = [rate for _, rate, _ in trace]
    assert rates[:10] == [pytest.approx(1e-2)] * 10  # no plateau while improving
    assert schedule.best == pytest.approx(5.5) and schedule.best_step == 100
    # plateau from step 100: halvings after 30 steps without improvement, floored at lr_min_factor
    assert rates[12] == pytest.approx(5e-3) and rates[15] == pytest.approx(2.5e-3) and min(rates) == pytest.approx(2.5e-3)
    assert trace[-1][0] == 200 and trace[-1][2] and schedule.converged  # patience 100 steps after the best
    assert not any(stopped for _, _, stopped in trace[:-1])


def test_convergence_schedule_ignores_improvements_below_the_threshold_and_warms_up() -> None:
    settings = TrainerConfig(learning_rate=1e-2, lr_warmup_steps=9, patience_steps=50, min_improvement=1e-2)
    schedule = ConvergenceSchedule(settings, check_every_epochs=1, monitor_validation=True)
    assert schedule.learning_rate(0) == pytest.approx(1e-3) and schedule.learning_rate(9) == pytest.approx(1e-2)
    schedule, trace = _run_schedule([100.0, 99.5, 99.2, 99.1, 99.05, 99.01, 99.3], settings)
    assert schedule.best == 100.0 and trace[-1][2]  # 0.5 % gains never beat a 1 % threshold: converged at step 60
    assert trace[-1][0] == 60


def test_a_fit_that_stops_improving_and_ends_worse_than_it_began_has_diverged_not_converged() -> None:
    settings = TrainerConfig(learning_rate=1e-2, lr_warmup_steps=0, patience_steps=50)
    trainer = SimpleNamespace(global_step=1000, should_stop=False)
    settled, _ = _run_schedule([10.0, 8.0, 7.0, 7.5, 7.2, 7.4, 7.3, 7.6], settings)
    assert settled.converged and not settled.diverged and settled.stop_reason(trainer) == "converged"
    # the best comes at the second check; then the objective climbs far above its start (loss 2e4 → 4e12 seen in
    # a Gaussian SRNN fit with a wrong gradient)
    blew_up, trace = _run_schedule([2e4, 1.9e4, 3e5, 4e7, 4e9, 4e12, 4e12], settings)
    assert trace[-1][2] and blew_up.converged  # stopped by the patience rule ...
    assert blew_up.diverged and blew_up.stop_reason(trainer) == "diverged"  # ... but not called converged
    assert blew_up.best == pytest.approx(1.9e4) and blew_up.first == pytest.approx(2e4)
    # a flat objective whose best was its first check, ending a little above it by noise, has converged
    flat, _ = _run_schedule([5.0, 5.02, 4.999, 5.03, 5.01, 5.04, 5.02], settings)
    assert flat.converged and not flat.diverged


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
