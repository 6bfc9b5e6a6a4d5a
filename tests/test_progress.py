"""Progress lines: a long fit is never silent for more than the interval, logs stay short, stages are announced."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np

from nwb_dyn.progress import LOG_INTERVAL_S, Progress, TrainingLines, duration_text
from tests.helpers import run_cli, write_units_session


class FakeClock:
    """Seconds that advance only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StampedStream(io.StringIO):
    """A non-terminal stream that records the (fake or real) time of every line written."""

    def __init__(self, clock) -> None:
        super().__init__()
        self.clock = clock
        self.times: list[float] = []

    def write(self, text: str) -> int:
        self.times.extend(self.clock() for _ in range(text.count("\n")))
        return super().write(text)


def simulate_fit(interactive: bool, minutes: float = 10.0, epoch_s: float = 7.0, batches: int = 5):
    """Drive TrainingLines through a fake ``minutes``-long fit of ``epoch_s``-second epochs; return the stream."""
    clock = FakeClock()
    stream = StampedStream(clock)
    lines = TrainingLines(
        Progress(stream, interactive=interactive, clock=clock),
        max_epochs=None,
        max_steps=20000,
        max_time_s=None,
    )
    epoch = step = 0
    while clock.now < minutes * 60:
        for batch in range(batches):
            clock.now += epoch_s / batches
            step += 1
            lines.batch_end(epoch, batch, batches)
        lines.epoch_end(epoch, step, {"train_loss": 1.0 / (epoch + 1), "val_loss": 2.0})
        epoch += 1
    return stream, clock.now


def test_a_ten_minute_fit_in_a_log_prints_at_least_every_30_s_and_no_more_often() -> None:
    stream, end = simulate_fit(interactive=False)
    times = np.array(stream.times + [end])
    gaps = np.diff(np.r_[0.0, times])
    assert gaps.max() <= LOG_INTERVAL_S + 1e-9  # never silent for longer than 30 s
    assert np.all(np.diff(stream.times) > LOG_INTERVAL_S - 7.0)  # and no more than about one line per 30 s
    assert 19 <= len(stream.times) <= 25  # about 600 s / 30 s, not one per epoch (86 epochs)
    assert all("train_loss" in line for line in stream.getvalue().splitlines())  # epoch lines, with losses
    first = stream.getvalue().splitlines()[0]
    assert re.fullmatch(
        r"nwb-dyn: training: epoch 1, step 5, train_loss 1, val_loss 2, 7\.0 s elapsed, "
        r"at most \d+h \d\dm left \(max_steps cap; stops sooner once converged\)",
        first,
    ), first


def test_inside_long_epochs_a_log_still_gets_a_line_every_30_s() -> None:
    stream, end = simulate_fit(interactive=False, epoch_s=100.0, batches=50)
    gaps = np.diff(np.r_[0.0, stream.times, end])
    assert gaps.max() <= LOG_INTERVAL_S + 2.0 + 1e-9  # interval + one batch
    assert any(", batch " in line for line in stream.getvalue().splitlines())


def test_on_a_terminal_every_epoch_gets_a_line() -> None:
    stream, _ = simulate_fit(interactive=True, minutes=1.0)
    epoch_lines = [line for line in stream.getvalue().splitlines() if ", step " in line]
    assert len(epoch_lines) == 9 and epoch_lines[-1].startswith("nwb-dyn: training: epoch 9, step 45")


def test_time_left_comes_from_the_soonest_cap() -> None:
    clock = FakeClock()
    stream = StampedStream(clock)
    lines = TrainingLines(
        Progress(stream, interactive=True, clock=clock), max_epochs=10, max_steps=1000, max_time_s=None
    )
    clock.now = 20.0
    lines.epoch_end(1, 20, {})  # 2 epochs in 20 s: 8 more epochs take 80 s; 980 steps would take 980 s
    assert "epoch 2/10, step 20, 20.0 s elapsed, at most 1m 20s left (max_epochs cap" in stream.getvalue()


def test_a_long_stage_says_it_is_still_working_with_its_latest_detail() -> None:
    stream = StampedStream(time.monotonic)
    progress = Progress(stream, interactive=False, interval_s=0.2)
    started = time.monotonic()
    with progress.stage("posterior"):
        for done in range(1, 11):
            time.sleep(0.1)
            progress._detail = f"window {done} of 10"  # what update() records, without printing
    ended = time.monotonic()
    text = stream.getvalue().splitlines()
    assert text[0] == "nwb-dyn: posterior ..."
    beats = [line for line in text if "so far)" in line]
    assert len(beats) >= 3 and all(
        re.search(r"posterior: window \d+ of 10 \(\d\.\d s so far\)", b) for b in beats
    )
    assert text[-1].startswith("nwb-dyn: posterior: done in ")
    gaps = np.diff([started, *stream.times, ended])
    assert gaps.max() < 0.2 + 0.05 + 0.15  # interval + poll + scheduling slack on a busy machine


def test_a_short_stage_prints_one_line() -> None:
    stream = io.StringIO()
    with Progress(stream, interactive=False).stage("metrics"):
        pass
    assert stream.getvalue() == "nwb-dyn: metrics ...\n"


def test_duration_text() -> None:
    assert [duration_text(s) for s in (8.44, 75.2, 3725.0)] == ["8.4 s", "1m 15s", "1h 02m"]


def test_a_fit_announces_extraction_training_and_every_post_fit_stage(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "session.nwb")
    code, stdout, stderr = run_cli(
        "fit", str(source), "--model", "lowrank", "--rank", "1", "--units", "8", "--particles", "2",
        "--bin-width", "0.05", "--max-epochs", "2", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0, stderr
    announced = [
        line.removeprefix("nwb-dyn: ") for line in stderr.splitlines() if line.startswith("nwb-dyn: ")
    ]
    expected_starts = [
        "reading and binning session.nwb ...",
        "training: epoch 1/2, step ",
        "posterior latents, states, generated samples and fixed points ...",
        "forecasts ...",
        "metrics ...",
        "writing ",
    ]
    position = 0
    for line in announced:
        if position < len(expected_starts) and line.startswith(expected_starts[position]):
            position += 1
    assert position == len(expected_starts), announced
    assert Path(stdout.strip().splitlines()[-1]).is_file()  # stdout still ends with the result's path
