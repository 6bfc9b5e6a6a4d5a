"""Teacher–student through the path users run: ``nwb_dyn.fit`` with default options on the published teachers.

CI-sized versions of ``benchmarks/validity.py`` part (c) (issue 19). The data of a shared teacher RNN (Pals et al.
2024) are written as a real NWB file and fitted by ``nwb_dyn.fit`` with data options only (``bin_width``,
``series``); what the fitted model gives is compared, in the same test, with what an untrained model or a
baseline without dynamics gives, so the assertions measure what the default fit learned.

- Gaussian ``osc_rnn_N20_rank2`` (noisy currents of 20 units): data the fitted model generates oscillate with the
  period of the teacher's own generated data (within 10 %); an untrained model of the fitted shape does not
  oscillate.
- Poisson ``osc_rnn_poisson_N40_rank2`` (spike counts of 40 units): the inferred rates correlate with the
  teacher's true rates at r ≥ 0.95, better than each unit's constant mean rate, and within 0.01 of
  Gaussian-smoothed spike counts at the width best for the truth (an oracle no user has).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

import nwb_dyn
from nwb_dyn.config import LowRankConfig
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.results import read
from nwb_dyn.simulate import write_signal_session, write_spiking_session
from nwb_dyn.simulate.lowrank_teacher import generated_period_steps, load_teacher

STEP_S = 0.01  # the teachers' time step (α = dt/τ = 10 ms / 100 ms)
GAUSSIAN_TRIALS, GAUSSIAN_STEPS = 40, 75  # the paper's trial length (200 trials there)
POISSON_TRIALS, POISSON_STEPS = 40, 50
#: How far the fitted rates' r may fall below that of spike smoothing at the width best for the (unknown) truth.
ORACLE_SMOOTHING_MARGIN = 0.01
#: Relative error of the generated period the default fit must stay within (issue 19's target, 5 %, is for
#: benchmarks/validity.py's larger fits; CI-sized fits of other data seeds came within −8 … +4 %).
PERIOD_TOLERANCE = 0.10


def _teacher(shared_dir: Path, name: str, likelihood: str) -> LowRankRNN:
    path = shared_dir / "data" / "teacher_rnns" / name
    if not path.exists():
        pytest.skip(f"{path} is missing from ../shared")
    return load_teacher(path, likelihood).eval()


def fit_with_defaults(source: Path, out: Path, **data_options: object):
    """``nwb_dyn.fit`` (low-rank, default options plus ``data_options``); the result read back."""
    outcome = nwb_dyn.fit(str(source), model="lowrank", out=out, **data_options)
    return read(outcome.fits[0].output)


def test_default_fit_generates_the_gaussian_teachers_oscillation(shared_dir: Path, tmp_path: Path) -> None:
    teacher = _teacher(shared_dir, "osc_rnn_N20_rank2.npz", "gaussian")
    with torch.no_grad():
        _, observations = teacher.generate(GAUSSIAN_TRIALS, GAUSSIAN_STEPS, generator=torch.Generator().manual_seed(7))
    source = write_signal_session(tmp_path / "teacher.nwb", observations.numpy(), STEP_S, "teacher_currents")
    result = fit_with_defaults(source, tmp_path / "fit", bin_width=STEP_S, series="acquisition/teacher_currents")

    defaults = LowRankConfig()
    torch.manual_seed(0)  # untrained models (seeds 0–2 tried) do not oscillate: infinite period
    untrained = LowRankRNN(
        rank=result.model.rank, num_units=defaults.units, num_channels=observations.shape[-1], likelihood="gaussian",
        activation=defaults.activation, noise_covariance="full",
    ).eval()
    teacher_period = generated_period_steps(teacher, seed=1)  # ≈ 64 steps (the noise-free limit cycle: 50)
    fitted_error = generated_period_steps(result.model, seed=2) / teacher_period - 1
    untrained_error = generated_period_steps(untrained, seed=2) / teacher_period - 1
    # Measured with this data: −1.0 %; other data seeds +4.4 % (40 trials), −1.3 % (30), −8.3 % (40 of 60 steps).
    assert abs(fitted_error) <= PERIOD_TOLERANCE, (fitted_error, untrained_error)
    assert abs(untrained_error) > PERIOD_TOLERANCE, untrained_error  # the same bar fails an untrained model


def test_default_fit_infers_the_poisson_teachers_rates(shared_dir: Path, tmp_path: Path) -> None:
    teacher = _teacher(shared_dir, "osc_rnn_poisson_N40_rank2.npz", "poisson")
    with torch.no_grad():
        latents, counts = teacher.generate(POISSON_TRIALS, POISSON_STEPS, generator=torch.Generator().manual_seed(7))
        true_rates = teacher.rates(latents).numpy()  # (B, T, D) expected counts per bin
    counts = counts.numpy().astype(np.int64)
    source = write_spiking_session(tmp_path / "teacher.nwb", counts, STEP_S, latents.numpy(), seed=7)
    # Every fifth trial is a validation trial, as in a recording with a train/val split: the fit then converges on
    # its validation objective (1,368 steps) instead of the noisier training loss (3,192 steps, twice the time).
    with h5py.File(source, "r+") as file:
        labels = file["intervals/trials/split"][:]
        labels[::5] = b"val"
        file["intervals/trials/split"][...] = labels
    result = fit_with_defaults(source, tmp_path / "fit", bin_width=STEP_S)
    inferred = result.per_window(result.rates)[np.argsort(result.windows.trial)]
    assert inferred.shape == true_rates.shape

    def correlation(rates: np.ndarray) -> float:
        return float(np.corrcoef(rates.reshape(-1), true_rates.reshape(-1))[0, 1])

    constant = np.broadcast_to(counts.mean(axis=(0, 1)), counts.shape)  # each unit's mean rate: no dynamics
    # Gaussian spike smoothing with the width that suits the true rates best (an oracle: the rates are high, about
    # one spike per bin, so smoothing alone already reaches r ≈ 0.98).
    smoothed = max(
        correlation(gaussian_filter1d(counts.astype(np.float64), sigma=bins, axis=1)) for bins in (1, 2, 3, 5, 8)
    )
    fitted = correlation(inferred)
    baselines = {"constant": correlation(constant), "best_smoothing": smoothed}
    # Measured: r 0.979 at the auto rank 3 (constant 0.30, best smoothing 0.984 at 2 bins; 0.989 with the data
    # initialisation before its chunked rewrite): the default fit matches an oracle smoothing, no more.
    assert fitted >= 0.95, (fitted, baselines)  # issue 19's bar
    assert fitted > smoothed - ORACLE_SMOOTHING_MARGIN, (fitted, baselines)
