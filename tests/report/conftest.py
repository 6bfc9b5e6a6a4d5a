"""One tiny fit per model family on a small simulated switching-Lorenz session, and its report, shared by the
report tests (fitting is the slow part, so it happens once per test session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from nwb_dyn.simulate import simulate_switching_lorenz, write_spiking_session
from nwb_dyn.simulate.nwb_session import poisson_spikes_from_latents
from tests.helpers import run_cli

BIN_WIDTH_S = 0.02
FAMILY_OPTIONS = {
    "lowrank": ["--rank", "2", "--units", "16", "--particles", "4"],
    "srnn": ["--states", "2", "--latent-dim", "2"],
}


@dataclass(frozen=True)
class ReportedFit:
    """A fitted result file, its source session and the report directory ``nwb-dyn report`` wrote for it."""

    family: str
    source: Path
    result: Path
    report_dir: Path
    report_stdout: str


@pytest.fixture(scope="session")
def simulated_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 trials × 40 bins of 10 Poisson units driven by a switching Lorenz system, as an NWB session."""
    truth = simulate_switching_lorenz(num_trials=6, num_steps=40, dt=0.02, seed=0)
    counts, _ = poisson_spikes_from_latents(
        truth.latents, num_units=10, bin_width_s=BIN_WIDTH_S, mean_rate_hz=40.0, seed=0
    )
    folder = tmp_path_factory.mktemp("report-session")
    return write_spiking_session(folder / "sim.nwb", counts, BIN_WIDTH_S, truth.latents, truth.states)


def _fit_and_report(family: str, source: Path, folder: Path) -> ReportedFit:
    code, stdout, stderr = run_cli(
        "fit",
        str(source),
        "--model",
        family,
        "--bin-width",
        str(BIN_WIDTH_S),
        "--max-epochs",
        "1",
        "--out",
        str(folder / "fit"),
        *FAMILY_OPTIONS[family],
    )
    assert code == 0, stderr
    result = Path(stdout.strip().splitlines()[-1])
    code, report_stdout, stderr = run_cli("report", str(result), "--out", str(folder / "report"))
    assert code == 0, stderr
    return ReportedFit(family, source, result, folder / "report", report_stdout)


@pytest.fixture(scope="session")
def reported_lowrank(simulated_session: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportedFit:
    """A 1-epoch low-rank RNN fit and its report."""
    return _fit_and_report("lowrank", simulated_session, tmp_path_factory.mktemp("lowrank"))


@pytest.fixture(scope="session")
def reported_srnn(simulated_session: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportedFit:
    """A 1-epoch switching RNN fit and its report."""
    return _fit_and_report("srnn", simulated_session, tmp_path_factory.mktemp("srnn"))


@pytest.fixture(scope="session", params=["lowrank", "srnn"])
def reported(request: pytest.FixtureRequest) -> ReportedFit:
    """Each model family's fit and report in turn."""
    return request.getfixturevalue(f"reported_{request.param}")
