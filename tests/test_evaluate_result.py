"""`nwb-dyn evaluate` on a result file: the same metrics the fit stored, plus labels, without any training.

The result is written by the real writer from hand-made model products for a real (tiny) NWB source, so the test
checks the whole read-back path — reader, re-extraction with the recorded config, window reordering — and not
training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from nwb_dyn.analysis.products import GeneratedSamples, ModelProducts
from nwb_dyn.config import resolve_config
from nwb_dyn.evaluate import event_epoch_labels, fit_metrics
from nwb_dyn.extract import NeuralData, extract_neural_data
from nwb_dyn.results.reader import read
from nwb_dyn.results.writer import FitRecord, write_result
from nwb_dyn.sources import resolve_sources
from tests.helpers import empty_nwbfile, run_cli, write_nwb


def _write_source(path: Path, seed: int = 0) -> Path:
    """12 trials of 1 s every 1.5 s, a go cue 0.4 s into each, 8 Poisson units."""
    rng = np.random.default_rng(seed)
    nwbfile = empty_nwbfile()
    nwbfile.add_trial_column(name="go_cue_time", description="go cue, s")
    for trial in range(12):
        nwbfile.add_trial(start_time=1.5 * trial, stop_time=1.5 * trial + 1.0, go_cue_time=1.5 * trial + 0.4)
    for _ in range(8):
        nwbfile.add_unit(spike_times=np.sort(rng.uniform(0, 18.0, size=rng.poisson(300))))
    return write_nwb(path, nwbfile)


def _fake_products(data: NeuralData) -> ModelProducts:
    """Smoothed counts as rates, random latents, thresholded states, Poisson samples: a stand-in for a fit."""
    rng = np.random.default_rng(1)
    latents = rng.normal(size=(data.num_windows, data.num_bins, 2))
    return ModelProducts(
        family="lowrank",
        latents=latents,
        latent_estimate="smoothed",
        rates=gaussian_filter1d(data.values.astype(np.float64), 2.0, axis=1) + 0.05,
        weights={"w": np.ones(2)},
        hyperparameters={"rank": 2},
        states=(latents[..., 0] > 0).astype(np.int64),
        samples=GeneratedSamples(
            latents=latents[:4],
            observations=rng.poisson(0.5, size=(4, data.num_bins, data.num_channels)),
            seed=0,
        ),
    )


@pytest.fixture()
def result_file(tmp_path: Path) -> tuple[Path, NeuralData, ModelProducts]:
    source = _write_source(tmp_path / "sub-1_ses-1_ecephys.nwb")
    config = resolve_config(None, {"data.heldout_fraction": 0.25, "seed": 3})
    ref = resolve_sources(str(source))[0]
    with ref.open() as nwbfile:
        data = extract_neural_data(nwbfile, config.data, config.seed, str(source))
    products = _fake_products(data)
    products.metrics = fit_metrics(data, products)
    record = FitRecord(ref.identity.to_dict(), config.to_dict(), config.seed, {}, "test", {})
    output = write_result(tmp_path / "out" / "result.nwb", data, products, record)
    return output, data, products


def _evaluate(result: Path, *extra: str) -> dict[str, float | None]:
    code, stdout, stderr = run_cli(
        "evaluate", str(result), "--json", "--cache-dir", str(result.parent / "c"), *extra
    )
    assert code == 0, stderr
    return json.loads(stdout)


def test_evaluate_prints_json_with_every_applicable_metric(
    result_file: tuple[Path, NeuralData, ModelProducts],
) -> None:
    output, _, products = result_file
    printed = _evaluate(output)
    expected_names = (
        {"co_bps", "heldin_bps", "trial_d_stsp", "trial_d_h"}
        | {
            f"spike_{name}"
            for name in ("mean_rate_r", "mean_rate_rmse_hz", "isi_mean_r", "isi_mean_rmse_s", "isi_cv_r")
        }
        | {"spike_pairwise_correlation_r", "spike_pairwise_correlation_rmse"}
    )
    expected_names = {f"val_{name}" for name in expected_names}  # each named with the split it was scored on
    assert set(printed) == set(products.metrics) == expected_names
    # The file stores rates as float32, so recomputed values agree with the fit's to float32 precision.
    for name, value in products.metrics.items():
        if np.isnan(value):
            assert printed[name] is None
        else:
            assert printed[name] == pytest.approx(value, rel=1e-4, abs=1e-6)


def test_event_and_file_labels_give_the_same_state_accuracy(
    result_file: tuple[Path, NeuralData, ModelProducts],
) -> None:
    output, data, products = result_file
    by_events = _evaluate(output, "--labels", "events:go_cue_time")
    labels = event_epoch_labels(data, ["go_cue_time"])
    direct = fit_metrics(data, products, reference_states=labels)
    assert by_events["val_state_accuracy"] == pytest.approx(direct["val_state_accuracy"])
    assert by_events["val_state_balanced_accuracy"] == pytest.approx(direct["val_state_balanced_accuracy"])
    in_time_order = labels[np.argsort(data.window_intervals_s[:, 0], kind="stable")].reshape(-1)
    np.save(output.parent / "labels.npy", in_time_order)
    by_file = _evaluate(output, "--labels", str(output.parent / "labels.npy"))
    assert by_file == by_events


def test_evaluate_refuses_a_result_whose_source_changed(
    result_file: tuple[Path, NeuralData, ModelProducts],
) -> None:
    output, _, _ = result_file
    _write_source(output.parent.parent / "sub-1_ses-1_ecephys.nwb", seed=7)
    code, _, stderr = run_cli("evaluate", str(output), "--cache-dir", str(output.parent / "c"))
    assert code == 2 and "has changed since the fit" in stderr


def test_evaluate_names_a_bad_labels_argument(result_file: tuple[Path, NeuralData, ModelProducts]) -> None:
    output, data, _ = result_file
    cache = ("--cache-dir", str(output.parent / "c"))
    code, _, stderr = run_cli("evaluate", str(output), *cache, "--labels", str(output.parent / "missing.npy"))
    assert code == 2 and "is neither events:COLUMNS nor an existing .npy file" in stderr
    np.save(output.parent / "short.npy", np.zeros(5, dtype=np.int64))
    code, _, stderr = run_cli("evaluate", str(output), *cache, "--labels", str(output.parent / "short.npy"))
    assert code == 2 and f"({data.num_windows}, {data.num_bins})" in stderr


def test_evaluate_reproduces_the_metrics_a_real_fit_stored(tmp_path: Path) -> None:
    source = _write_source(tmp_path / "sub-2_ses-1_ecephys.nwb")
    cache = ("--cache-dir", str(tmp_path / "cache"))
    code, stdout, stderr = run_cli(
        "fit", str(source), "--model", "lowrank", "--max-epochs", "1", "--heldout-fraction", "0.25",
        "--out", str(tmp_path / "out"), *cache,
    )  # fmt: skip
    assert code == 0, stderr
    output = Path(stdout.strip().splitlines()[-1])
    stored = read(output).stored_model.metrics
    printed = _evaluate(output)
    assert {"val_co_bps", "val_heldin_bps", "val_trial_d_stsp", "val_trial_d_h"} <= set(printed) <= set(stored)
    for name, value in printed.items():
        assert value == pytest.approx(stored[name], rel=1e-6)
