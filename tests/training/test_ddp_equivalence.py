"""DDP on CPU (gloo, 2 forked processes) against one process with the same global batch and seed.

Per-window SMC noise and the round-robin shard sampler make both runs average the gradient of the same windows
with the same noise at every step, so parameters agree to float round-off, and rank 0 writes every trial once.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from pynwb import NWBHDF5IO

from nwb_dyn.api import fit
from tests.helpers import write_units_session

OPTIONS = {"max_epochs": 2, "batch_size": 4, "units": 8, "particles": 4, "bin_width": 0.05, "seed": 1, "accelerator": "cpu"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_result(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with NWBHDF5IO(str(path), mode="r") as io:
        misc = io.read().processing["misc"]
        latents = misc["latents"]
        windows = misc["fit_windows"].to_dataframe()
        return np.asarray(latents.data[:]), np.asarray(latents.timestamps[:]), windows["start_time"].to_numpy()


def _final_parameters(out: Path) -> dict[str, torch.Tensor]:
    (checkpoint,) = out.glob(".nwb-dyn-runs/*/checkpoints/last.ckpt")
    return torch.load(checkpoint, weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 10 trials: 8 training windows (2 steps of 4 per epoch), 2 validation windows.
    return write_units_session(tmp_path_factory.mktemp("ddp") / "session.nwb", num_units=6, num_trials=10)


def test_two_gloo_processes_equal_one_process(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    single = fit(str(source), out=tmp_path / "single", **OPTIONS)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    # ddp_fork, not ddp: under pytest, Lightning's ddp launcher would re-run the whole pytest command per rank.
    distributed = fit(str(source), out=tmp_path / "ddp", strategy="ddp_fork", devices=2, **OPTIONS)

    assert single.fits[0].summary["global_steps"] == distributed.fits[0].summary["global_steps"] == 4
    one, two = _final_parameters(tmp_path / "single"), _final_parameters(tmp_path / "ddp")
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=1e-5, rtol=0, msg=name)

    latents_1, times_1, windows_1 = _read_result(single.outputs[0])
    latents_2, times_2, windows_2 = _read_result(distributed.outputs[0])
    assert len(np.unique(windows_2)) == len(windows_2) == 10  # every trial exactly once
    assert np.array_equal(windows_1, windows_2)
    assert len(np.unique(times_2)) == len(times_2) and np.array_equal(times_1, times_2)
    np.testing.assert_allclose(latents_2, latents_1, atol=1e-4)
