"""The report on a K = 3 SRNN using 1, 2 or 3 of its states, time axes from the alignment event, and a metrics
table and summary that explain themselves."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import h5py
import numpy as np
import pytest

from nwb_dyn.report.inputs import SESSION_CLOCK_LABEL, load_report_inputs
from nwb_dyn.report.metric_notes import metric_rows
from nwb_dyn.report.summary import summary_sentences
from tests.helpers import run_cli
from tests.report.conftest import BIN_WIDTH_S
from tests.report.test_report_figures import image_sources

ALL_FIGURES = {"states", "latents", "flow_field", "rates", "training", "spike_statistics"}


@pytest.fixture(scope="module")
def srnn_three_states(simulated_session: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-epoch SRNN fit with K = 3 states."""
    folder = tmp_path_factory.mktemp("srnn3")
    code, stdout, stderr = run_cli(
        "fit",
        str(simulated_session),
        "--model",
        "srnn",
        "--states",
        "3",
        "--latent-dim",
        "2",
        "--bin-width",
        str(BIN_WIDTH_S),
        "--max-epochs",
        "1",
        "--out",
        str(folder),
    )
    assert code == 0, stderr
    return Path(stdout.strip().splitlines()[-1])


def with_states_used(result: Path, used: list[int], folder: Path) -> Path:
    """A copy of ``result`` whose state path visits exactly the states ``used`` (in turn, 5 bins each)."""
    copy = folder / f"used-{len(used)}.nwb"
    shutil.copy(result, copy)
    with h5py.File(copy, "r+") as handle:
        module = handle["processing/misc"]
        count = module["states"]["data"].shape[0]
        path = np.asarray(used)[(np.arange(count) // 5) % len(used)]
        module["states"]["data"][:] = path
        module["state_probabilities"]["data"][:] = np.eye(3, dtype=np.float32)[path]
    return copy


@pytest.mark.parametrize("used", [[1], [0, 2], [0, 1, 2]], ids=["1-used", "2-used", "3-used"])
def test_report_of_an_srnn_using_some_of_its_states(
    srnn_three_states: Path, used: list[int], tmp_path: Path
) -> None:
    result = with_states_used(srnn_three_states, used, tmp_path)
    code, stdout, stderr = run_cli("report", str(result), "--out", str(tmp_path / "report"))
    assert code == 0, stderr
    index = tmp_path / "report" / "index.html"
    assert stdout.strip() == str(index)
    assert {Path(name).stem for name in image_sources(index)} == ALL_FIGURES
    inputs = load_report_inputs(result)
    from nwb_dyn.report.flow import draw_flow_field
    from nwb_dyn.report.latents import latent_colouring

    titles = [axis.get_title() for axis in draw_flow_field(inputs).axes[:3]]
    for state in range(3):
        assert titles[state].startswith(f"state {state}: ")
        assert (titles[state] == f"state {state}: not used") == (state not in used)
    legend = list(latent_colouring(inputs).legend)
    assert legend == [f"state {k}" + ("" if k in used else " (not used)") for k in range(3)]
    page = index.read_text()
    assert "<th>what it means</th>" in page and "Fit quality: " in page
    link = re.search(r'Result file <a href="([^"]+)">', page)
    assert link and not Path(link.group(1)).is_absolute() and str(tmp_path) not in page
    assert (index.parent / unquote(link.group(1))).resolve() == result.resolve()


def test_each_flow_panel_draws_only_its_states_bins(srnn_three_states: Path, tmp_path: Path) -> None:
    from nwb_dyn.report.flow import _state_trajectories

    inputs = load_report_inputs(with_states_used(srnn_three_states, [0, 2], tmp_path))
    projected = inputs.result.latents[:, :2]
    states = inputs.result.per_window(inputs.result.states)
    for state in range(3):
        drawn = np.isfinite(_state_trajectories(inputs, projected, state)[..., 0])
        entered = np.zeros_like(states, dtype=bool)
        entered[:, 1:] = states[:, :-1] == state
        np.testing.assert_array_equal(drawn, (states == state) | entered)
    assert not np.isfinite(_state_trajectories(inputs, projected, 1)).any()  # state 1 never used


def test_time_axis_counts_from_the_alignment_event(srnn_three_states: Path, tmp_path: Path) -> None:
    copy = tmp_path / "aligned.nwb"
    shutil.copy(srnn_three_states, copy)
    plain = load_report_inputs(copy)
    assert plain.time_label == SESSION_CLOCK_LABEL and not plain.aligned
    np.testing.assert_allclose(plain.bin_centres(), plain.bin_start_s + BIN_WIDTH_S / 2)
    with h5py.File(copy, "r+") as handle:  # as if the fit had been aligned to each trial's start
        record = handle["processing/misc/provenance"]
        config = json.loads(record.attrs["config"])
        config["data"].update(align="start_time", window_s=[0.0, 0.8])
        record.attrs["config"] = json.dumps(config)
        trial_starts = handle["intervals/trials/start_time"][:]
    aligned = load_report_inputs(copy)
    assert aligned.aligned and aligned.time_label == "time from start_time (s)"
    np.testing.assert_allclose(aligned.time_zero_s, trial_starts[aligned.result.windows.trial])
    np.testing.assert_allclose(aligned.bin_centres()[:, 0], BIN_WIDTH_S / 2, atol=1e-9)
    from nwb_dyn.report.latents import draw_latent_trajectories

    assert draw_latent_trajectories(aligned).axes[1].get_xlabel() == "time from start_time (s)"


def test_metrics_table_says_what_each_metric_means_which_way_is_better_and_why_one_is_missing() -> None:
    rows = {
        row.key: row for row in metric_rows({"val_heldin_bps": 0.05, "val_psth_r2": float("nan")}, "srnn")
    }
    assert (
        rows["val_heldin_bps"].better == "higher is better"
        and "constant rate" in rows["val_heldin_bps"].meaning
    )
    assert rows["val_heldin_bps"].split == "validation windows"
    assert (
        rows["val_psth_r2"].value is None
        and "Not scored: the trials table has no condition" in rows["val_psth_r2"].meaning
    )
    assert rows["val_co_bps"].value is None and "--heldout-fraction" in rows["val_co_bps"].meaning
    assert "nwb-dyn evaluate" in rows["val_state_accuracy"].meaning
    assert "val_state_accuracy" not in {row.key for row in metric_rows({"val_heldin_bps": 0.1}, "lowrank")}
    spikes = {
        row.key: row
        for row in metric_rows({"val_spike_isi_cv_r": 0.2, "val_spike_mean_rate_rmse_hz": 2.0}, "srnn")
    }
    assert spikes["val_spike_isi_cv_r"].better == "higher is better"
    assert (
        "coefficient of variation between spikes the free-running model"
        in spikes["val_spike_isi_cv_r"].meaning
    )
    assert spikes["val_spike_mean_rate_rmse_hz"].meaning.endswith(
        "mean rate between generated and recorded spikes (Hz)."
    )
    signals = {row.key for row in metric_rows({"train_heldin_mse": 1.0}, "lowrank")}
    assert "train_co_mse" in signals and "train_co_bps" not in signals


def test_summary_quotes_the_fits_quality_line_else_derives_one(
    srnn_three_states: Path, tmp_path: Path
) -> None:
    inputs = load_report_inputs(with_states_used(srnn_three_states, [0, 2], tmp_path))
    summary = inputs.result.stored_model.training_summary
    sentences = summary_sentences(inputs)
    assert sentences[0].startswith(
        "A switching recurrent network (SRNN) with 2 latent dimensions was fitted to 10"
    )
    if "quality" in summary:
        assert sentences[1] == "Fit quality: " + summary["quality"]["line"].removeprefix(
            "nwb-dyn: fit quality: "
        )
    summary.pop("quality", None)
    derived = summary_sentences(inputs)[1]
    assert "It uses 2 of its 3 discrete states" in derived and "States never used add nothing" in derived
    assert "bits per spike" in derived


def test_report_of_an_srnn_fit_with_a_short_trial(tmp_path: Path) -> None:
    """Windows shorter than the longest are padded on reading (NaN latents, state -1): every figure still draws."""
    import warnings

    import nwb_dyn
    from nwb_dyn.report import render_report
    from tests.extract.builders import poisson_trains
    from tests.helpers import empty_nwbfile, write_nwb

    nwbfile = empty_nwbfile()
    for start in np.arange(8) * 1.5:
        nwbfile.add_trial(start_time=start, stop_time=start + (0.25 if start == 4.5 else 1.0))
    for times in poisson_trains(np.random.default_rng(0), 6, 12.5, rate_hz=20.0):
        nwbfile.add_unit(spike_times=times)
    source = write_nwb(tmp_path / "sub-1_ses-1_ecephys.nwb", nwbfile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "1 of 8 trials rows are shorter than the longest"
        outcome = nwb_dyn.fit(
            str(source),
            model="srnn",
            out=tmp_path / "out",
            max_epochs=1,
            bin_width=0.05,
            states=3,
            latent_dim=2,
        )
    report = render_report(outcome.outputs[0], tmp_path / "report")
    drawn = {figure.name for figure in report.figures if figure.file_name is not None}
    assert {"states", "latents", "flow_field", "rates"} <= drawn
    inputs = load_report_inputs(outcome.outputs[0])
    assert np.isnan(inputs.bin_centres()[3, 5:]).all()  # the 0.25 s trial: 5 bins, then padding
    assert np.isfinite(inputs.bin_centres()[3, :5]).all()
