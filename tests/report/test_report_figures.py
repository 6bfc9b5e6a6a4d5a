"""`nwb-dyn report` on one output of each model family, and on a file written by nwb-dyn 0.1.0."""

from __future__ import annotations

import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO

from nwb_dyn.report import FIGURE_SIZE_PX, FIGURES, render_report
from nwb_dyn.report.inputs import load_report_inputs
from tests.conftest import PROJECT_ROOT
from tests.helpers import run_cli
from tests.report.conftest import ReportedFit

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BACK_COMPAT_RESULT = PROJECT_ROOT / "tests" / "back_compat" / "ndx-dyn-0.1.0_result.nwb"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE and header[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


class _ImageSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")


def image_sources(page: Path) -> list[str]:
    """The ``src`` of every ``<img>`` on the page, in order."""
    parser = _ImageSources()
    parser.feed(page.read_text())
    return parser.sources


def test_every_figure_is_a_png_of_the_expected_size_and_on_the_page(reported: ReportedFit) -> None:
    index = reported.report_dir / "index.html"
    assert reported.report_stdout.strip() == str(index)
    pngs = sorted(path.name for path in reported.report_dir.glob("*.png"))
    expected = {"latents", "flow_field", "rates", "training", "spike_statistics"}
    if reported.family == "srnn":
        expected.add("states")
    assert pngs == sorted(f"{name}.png" for name in expected)
    for name in pngs:
        path = reported.report_dir / name
        assert path.stat().st_size > 10_000, f"{name} is nearly empty"
        assert png_size(path) == FIGURE_SIZE_PX
    assert sorted(image_sources(index)) == pngs


def test_low_rank_page_says_why_it_has_no_state_raster(reported_lowrank: ReportedFit) -> None:
    page = (reported_lowrank.report_dir / "index.html").read_text()
    assert "Not drawn: the lowrank model has no discrete states." in page
    assert "heldin_bps" in page  # the metrics table


def test_observed_counts_match_histogram_of_source_spike_times(reported_srnn: ReportedFit) -> None:
    inputs = load_report_inputs(reported_srnn.result)
    with NWBHDF5IO(str(reported_srnn.source), mode="r") as io:
        units = io.read().units
        spikes = {
            int(unit_id): np.asarray(units["spike_times"][row]) for row, unit_id in enumerate(units.id[:])
        }
    assert inputs.observed is not None and inputs.observed.shape == (6, 40, 10)
    for window, starts in enumerate(inputs.bin_start_s):
        edges = np.append(starts, starts[-1] + inputs.bin_width_s)
        for column, unit_id in enumerate(inputs.result.channel_ids):
            expected, _ = np.histogram(spikes[int(unit_id)], bins=edges)
            np.testing.assert_array_equal(inputs.observed[window, :, column], expected)
    assert inputs.observed.sum() > 0


def test_training_curve_reads_the_logged_loss(reported_srnn: ReportedFit) -> None:
    inputs = load_report_inputs(reported_srnn.result)
    assert inputs.training_log is not None
    epochs, values = inputs.training_log.curves["train_loss"]
    np.testing.assert_array_equal(epochs, [0])
    final = inputs.result.stored_model.training_summary["final_metrics"]["train_loss"]
    np.testing.assert_allclose(values, [final], rtol=1e-6)


def test_training_curves_survive_deleting_the_run_directory(
    reported_srnn: ReportedFit, tmp_path: Path
) -> None:
    """The history is stored in the result file, so the curves do not depend on the run directory."""
    import shutil

    inputs = load_report_inputs(reported_srnn.result)
    # The file records the run directory without the machine's absolute path: find it beside the result.
    run_name = Path(inputs.result.stored_model.training_summary["run_dir"]).name
    run_dir = next(path for path in reported_srnn.result.parent.rglob(run_name) if path.is_dir())
    moved = tmp_path / "moved-run"
    shutil.move(str(run_dir), moved)
    try:
        after = load_report_inputs(reported_srnn.result)
    finally:
        shutil.move(str(moved), run_dir)
    assert after.training_log is not None and "stored in the result file" in after.training_log.origin
    np.testing.assert_array_equal(
        after.training_log.curves["train_loss"][1], inputs.training_log.curves["train_loss"][1]
    )


def test_flow_field_marks_the_stored_fixed_points(reported_srnn: ReportedFit) -> None:
    from nwb_dyn.report.flow import draw_flow_field

    inputs = load_report_inputs(reported_srnn.result)
    points = inputs.result.fixed_points
    figure = draw_flow_field(inputs)
    for state, axis in enumerate(figure.axes[: inputs.result.num_states]):
        marked = [
            c for c in axis.collections if c.get_label() in ("stable fixed point", "unstable fixed point")
        ]
        located = np.vstack([c.get_offsets() for c in marked if len(c.get_offsets())])
        expected = points.location[points.state == state]  # R = 2: the plotted plane is the latent plane
        np.testing.assert_allclose(np.sort(located, axis=0), np.sort(expected, axis=0), rtol=1e-6)


def test_state_raster_places_trial_events_relative_to_the_alignment_event(reported_srnn: ReportedFit) -> None:
    from nwb_dyn.report.inputs import TrialEvents
    from nwb_dyn.report.states import draw_state_raster

    inputs = load_report_inputs(reported_srnn.result)
    windows = inputs.result.windows
    inputs.time_zero_s = windows.start_s + 0.2  # as if every window had been cut from 0.2 s before an event
    inputs.time_label = "time from go_cue_time (s)"
    go_cue = inputs.time_zero_s + 0.1 * np.arange(len(windows.start_s))  # window i: 0.1·i s after its event
    go_cue[2] = windows.stop_s[2] + 1.0  # an event outside its window is not drawn
    inputs.trials = TrialEvents(windows.start_s, windows.stop_s, {"go_cue_time": go_cue}, None, None)
    axis = draw_state_raster(inputs).axes[0]
    (markers,) = [c for c in axis.collections if c.get_label() == "go_cue_time"]
    expected_rows = [0, 1, 3, 4, 5]
    np.testing.assert_allclose(markers.get_offsets()[:, 1], expected_rows)
    np.testing.assert_allclose(markers.get_offsets()[:, 0], 0.1 * np.array(expected_rows))
    (image,) = axis.get_images()
    np.testing.assert_allclose(image.get_extent()[:2], [-0.2, -0.2 + 40 * inputs.bin_width_s])
    assert axis.get_xlabel() == "time from go_cue_time (s)"


def test_report_of_a_version_0_1_0_file_skips_only_what_it_lacks(tmp_path: Path) -> None:
    report = render_report(BACK_COMPAT_RESULT, tmp_path)
    skipped = {figure.name: figure.reason for figure in report.figures if figure.file_name is None}
    assert set(skipped) == {"training"}
    assert "earlier nwb-dyn version" in skipped["training"]
    assert len(report.images) == len(FIGURES) - 1
    assert all(png_size(path) == FIGURE_SIZE_PX for path in report.images)
    assert "Not drawn: the result file records no training history" in report.index.read_text()


def test_report_of_a_file_that_is_not_a_result_is_a_user_error(tmp_path: Path) -> None:
    not_nwb = tmp_path / "notes.nwb"
    not_nwb.write_text("not an NWB file")
    code, _, stderr = run_cli("report", str(not_nwb), "--out", str(tmp_path / "report"))
    assert code == 2
    assert "notes.nwb is not a readable NWB file" in stderr
    assert not (tmp_path / "report").exists()
