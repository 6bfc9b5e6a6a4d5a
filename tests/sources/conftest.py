"""Fixtures for source tests: one DANDI stand-in per test session serving MC_Maze_Small and synthetic dandisets.

Every test gets a clean slate: traffic counters reset, no faults, its own cache directory, and the environment
pointing nwb-dyn at the stand-in with fast retries and a short timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pynwb import TimeSeries

from tests.dandi_standin import DandiStandin, StandinAsset, StandinDandiset
from tests.helpers import empty_nwbfile, write_nwb, write_units_session

MC_MAZE_VERSION = "0.220113.0408"
MC_MAZE_PATH = "sub-Jenkins/sub-Jenkins_ses-small_desc-test_ecephys.nwb"
SYNTHETIC_PATHS = (
    "sub-a/sub-a_ses-1_ecephys.nwb",
    "sub-a/sub-a_ses-2_ecephys.nwb",
    "sub-b/sub-b_ses-1_ecephys.nwb",
)
ESCAPING_PATH = "sub-x/../../../../escape_ecephys.nwb"
API_KEY = "standin-secret"


def write_behaviour_session(path: Path, seconds: float = 600.0, rate_hz: float = 1000.0) -> Path:
    """A units + trials session with a large 1 kHz two-channel behaviour series (most of the file's bytes)."""
    rng = np.random.default_rng(3)
    nwbfile = empty_nwbfile()
    for trial in range(8):
        nwbfile.add_trial(start_time=10.0 * trial + 1.0, stop_time=10.0 * trial + 2.0)
    for _ in range(5):
        nwbfile.add_unit(spike_times=np.sort(rng.uniform(0, seconds, size=200)))
    hand = rng.standard_normal((int(seconds * rate_hz), 2)).astype(np.float32)
    nwbfile.add_acquisition(
        TimeSeries(name="hand_vel", data=hand, unit="m/s", rate=rate_hz, starting_time=0.0)
    )
    return write_nwb(path, nwbfile)


@pytest.fixture(scope="session")
def standin_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small NWB files (and one non-NWB file) the stand-in serves."""
    root = tmp_path_factory.mktemp("standin-files")
    files = {
        name: write_units_session(root / f"synthetic-{i}.nwb", num_units=4 + i, num_trials=6, seed=i)
        for i, name in enumerate(SYNTHETIC_PATHS)
    }
    files["behaviour"] = write_behaviour_session(root / "behaviour.nwb")
    readme = root / "README.txt"
    readme.write_text("not an NWB file\n")
    files["readme"] = readme
    return files


@pytest.fixture(scope="session")
def standin_server(mc_maze_small: Path, standin_files: dict[str, Path]) -> Iterator[DandiStandin]:
    mc_maze = StandinAsset(MC_MAZE_PATH, mc_maze_small)
    synthetic = [StandinAsset(path, standin_files[path]) for path in SYNTHETIC_PATHS]
    behaviour = StandinAsset("sub-c/sub-c_ses-1_behavior+ecephys.nwb", standin_files["behaviour"])
    dandisets = [
        StandinDandiset("000140", {"draft": [mc_maze], MC_MAZE_VERSION: [mc_maze]}),
        StandinDandiset("000999", {"draft": [*synthetic, behaviour]}),
        StandinDandiset("000555", {"draft": [StandinAsset("README.txt", standin_files["readme"])]}),
        StandinDandiset(
            "000666", {"draft": [StandinAsset(ESCAPING_PATH, standin_files[SYNTHETIC_PATHS[0]])]}
        ),
        StandinDandiset(
            "000777",
            {"draft": [StandinAsset("sub-e/sub-e_ecephys.nwb", standin_files[SYNTHETIC_PATHS[1]])]},
            embargoed=True,
        ),
    ]
    files = {"session.nwb": standin_files[SYNTHETIC_PATHS[0]], "behaviour.nwb": standin_files["behaviour"]}
    with DandiStandin(dandisets, files=files, token=API_KEY) as server:
        yield server


@pytest.fixture
def standin(standin_server: DandiStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DandiStandin:
    """The stand-in, reset, with nwb-dyn's environment pointing at it and a per-test cache directory."""
    standin_server.reset()
    monkeypatch.setenv("NWB_DYN_DANDI_API_URL", standin_server.api_url)
    monkeypatch.setenv("NWB_DYN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NWB_DYN_HTTP_BACKOFF_S", "0.01")
    monkeypatch.setenv("NWB_DYN_HTTP_TIMEOUT_S", "5")
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    return standin_server
