"""Small helpers shared by tests: running the CLI in-process and writing tiny NWB files."""

from __future__ import annotations

import contextlib
import datetime
import io
import uuid
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile

from nwb_dyn.cli import main


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run ``nwb-dyn ARGV`` in-process; returns (exit code, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(argv))
    return code, stdout.getvalue(), stderr.getvalue()


def empty_nwbfile() -> NWBFile:
    """An NWBFile with metadata only."""
    return NWBFile(
        session_description="test session",
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )


def write_nwb(path: Path, nwbfile: NWBFile) -> Path:
    """Write ``nwbfile`` to ``path``."""
    with NWBHDF5IO(str(path), mode="w") as io_:
        io_.write(nwbfile)
    return path


def write_units_session(path: Path, num_units: int = 6, num_trials: int = 8, seed: int = 0) -> Path:
    """A small NWB file with Poisson spike trains and a trials table (trials of 1 s every 1.5 s)."""
    rng = np.random.default_rng(seed)
    nwbfile = empty_nwbfile()
    for trial in range(num_trials):
        nwbfile.add_trial(start_time=1.5 * trial, stop_time=1.5 * trial + 1.0)
    for _ in range(num_units):
        count = rng.poisson(15 * 1.5 * num_trials)
        nwbfile.add_unit(spike_times=np.sort(rng.uniform(0, 1.5 * num_trials, size=count)))
    return write_nwb(path, nwbfile)


def linear_gaussian_lowrank(readout: str = "affine", seed: int = 0, noise: str = "full"):
    """A float64 low-rank RNN with identity φ and Gaussian observations: a linear-Gaussian state-space model whose
    exact likelihood and predictions the Kalman filter gives (the oracle of the SMC and forecast tests)."""
    import torch

    from nwb_dyn.models.lowrank import LowRankRNN

    torch.manual_seed(seed)
    model = LowRankRNN(
        rank=2,
        num_units=6,
        num_channels=4,
        likelihood="gaussian",
        activation="identity",
        decay_init=0.8,
        transition_noise_std_init=0.3,
        initial_noise_std_init=0.5,
        noise_covariance=noise,
        readout=readout,
        observation_noise_std_init=0.4,
    ).double()
    with torch.no_grad():
        if noise == "full":
            model.transition_noise.raw[1, 0] = 0.2  # a genuinely full Σ_z
        model.h.uniform_(-0.3, 0.3)
        model.initial_mean.copy_(torch.tensor([0.3, -0.2]))
    return model


def error_line(stderr: str) -> str:
    """The one error line a failed command ends with; before it stderr may hold only the progress lines of stages
    that had started (``nwb-dyn: <stage> ...``), never a traceback or a second error."""
    *progress, last = stderr.rstrip("\n").split("\n")
    assert last.startswith("nwb-dyn: error: ") and stderr.endswith("\n"), stderr
    assert "Traceback" not in stderr, stderr
    assert all(line.startswith("nwb-dyn: ") and not line.startswith("nwb-dyn: error") for line in progress), stderr
    return last + "\n"
