"""`nwb-dyn fit SOURCE --model srnn --states K` end to end on a small simulated switching-Lorenz spiking session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nwb_dyn.results.reader import FitResult, read
from nwb_dyn.simulate import simulate_switching_lorenz, write_spiking_session
from nwb_dyn.simulate.nwb_session import poisson_spikes_from_latents
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    folder = tmp_path_factory.mktemp("srnn")
    truth = simulate_switching_lorenz(num_trials=8, num_steps=60, dt=0.02, seed=0)
    counts, _ = poisson_spikes_from_latents(
        truth.latents, num_units=12, bin_width_s=0.02, mean_rate_hz=40.0, seed=0
    )
    source = write_spiking_session(folder / "sim.nwb", counts, 0.02, truth.latents, truth.states)
    code, stdout, stderr = run_cli(
        "fit",
        str(source),
        "--model",
        "srnn",
        "--states",
        "3",
        "--latent-dim",
        "2",
        "--bin-width",
        "0.02",
        "--max-epochs",
        "3",
        "--out",
        str(folder / "out"),
    )
    assert code == 0, stderr
    return read(stdout.strip().splitlines()[-1])


def test_states_and_probabilities_are_written(fitted: FitResult) -> None:
    assert fitted.path.name.endswith("srnn_ecephys.nwb")
    assert fitted.num_states == 3 and fitted.states is not None and fitted.state_probabilities is not None
    assert fitted.states.shape == (8 * 60,) and set(np.unique(fitted.states)) <= {0, 1, 2}
    np.testing.assert_allclose(fitted.state_probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert fitted.latents.shape == (8 * 60, 2) and fitted.rates.shape == (8 * 60, 12)


def test_rebuilt_model_reproduces_the_stored_rates(fitted: FitResult) -> None:
    model = fitted.model
    with torch.no_grad():
        rates = model.emission_mean(torch.as_tensor(fitted.latents, dtype=torch.float32)[None])[0]
    np.testing.assert_allclose(rates.numpy(), fitted.rates, rtol=1e-4, atol=1e-6)


def test_fixed_points_are_fixed_under_their_own_state(fitted: FitResult) -> None:
    points = fitted.fixed_points
    assert points is not None and points.state is not None and points.kind == "numeric"
    location = torch.as_tensor(points.location, dtype=torch.float64)
    with torch.no_grad():
        mapped = fitted.model.double().dynamics_mean(location[:, None])[:, 0]  # (P, K, R)
    own = mapped[torch.arange(len(location)), torch.as_tensor(points.state)]
    np.testing.assert_allclose(own.numpy(), points.location, atol=1e-6)


def test_invalid_number_of_states_names_the_key(tmp_path: Path) -> None:
    code, _, stderr = run_cli("fit", str(tmp_path / "missing.nwb"), "--model", "srnn", "--states", "0")
    assert code == 2 and "srnn.states" in stderr
