"""Same config and seed → identical outputs (same hardware); a different seed → different numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from pynwb import NWBHDF5IO

from tests.helpers import run_cli, write_units_session


def _fit(source: Path, out: Path, config: Path, *extra: str) -> tuple[np.ndarray, np.ndarray, str]:
    code, stdout, stderr = run_cli("fit", str(source), "--out", str(out), "--config", str(config), *extra)
    assert code == 0, stderr
    with NWBHDF5IO(stdout.splitlines()[-1], mode="r") as io:
        misc = io.read().processing["misc"]
        return np.asarray(misc["latents"].data[:]), np.asarray(misc["rates"].data[:]), stderr


def test_same_config_and_seed_give_identical_outputs(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "session.nwb", num_units=5, num_trials=6)
    config = tmp_path / "fit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "seed": 3,
                "data": {"bin_width_s": 0.05, "batch_size": 2},
                "lowrank": {"units": 8, "particles": 4},
                "trainer": {"max_epochs": 2, "lr_warmup_steps": 1},
            }
        )
    )
    first = _fit(source, tmp_path / "a", config)
    second = _fit(source, tmp_path / "b", config)
    other_seed = _fit(source, tmp_path / "c", config, "--seed", "4")
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert not np.allclose(first[0], other_seed[0])
    saved = yaml.safe_load(next((tmp_path / "a").glob(".nwb-dyn-runs/*/config.yaml")).read_text())
    assert saved["seed"] == 3 and saved["trainer"]["lr_warmup_steps"] == 1 and saved["lowrank"]["units"] == 8
    assert "epochs" in first[2] and "best val_loss" in first[2]
