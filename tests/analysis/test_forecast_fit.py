"""Forecast metrics through the CLI: a fit stores k-step MSE and forward prediction, ``nwb-dyn evaluate --json``
recomputes the same numbers from the model rebuilt from the result file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nwb_dyn.results.reader import read
from tests.helpers import run_cli, write_units_session

FORECAST_KEYS = ("val_k_step_mse_1", "val_k_step_mse_5", "val_k_step_mse_10", "val_fp_bps")  # named by their split


@pytest.fixture(scope="module", params=["lowrank", "srnn"])
def fitted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp(f"forecast-{request.param}")
    source = write_units_session(folder / "sub-1_ses-1_ecephys.nwb", num_units=5, num_trials=8)
    family_options = ("--rank", "2", "--units", "8") if request.param == "lowrank" else ("--states", "2")
    code, stdout, stderr = run_cli(
        "fit", str(source), "--model", request.param, *family_options,
        "--bin-width", "0.05", "--max-epochs", "1", "--num-threads", "1", "--out", str(folder / "out"),
    )
    assert code == 0, stderr
    return Path(stdout.strip().splitlines()[-1]), str(folder / "cache")


def test_fit_stores_forecast_metrics_and_evaluate_reproduces_them(fitted: tuple[Path, str]) -> None:
    result_path, cache = fitted
    stored = read(result_path).stored_model.metrics
    assert all(np.isfinite(stored[key]) for key in FORECAST_KEYS), stored
    assert all(stored[f"val_k_step_mse_{k}"] > 0 for k in (1, 5, 10))
    code, stdout, stderr = run_cli("evaluate", str(result_path), "--json", "--cache-dir", cache)
    assert code == 0, stderr
    printed = json.loads(stdout)
    for key in FORECAST_KEYS:
        assert printed[key] == pytest.approx(stored[key], rel=1e-5), key

