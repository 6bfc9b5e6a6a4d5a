"""Progress lines for long work — extraction, training and the stages after it — on stderr (stdout stays the result).

On a terminal a line comes at every stage and epoch, and a stage that runs long says so every
:data:`TERMINAL_INTERVAL_S` seconds, so a fit is never silent for more than that. Off a terminal (CI logs, files,
pipes) periodic lines come at most once every :data:`LOG_INTERVAL_S` seconds, so logs stay short while a long run
still shows it is alive. Pure Python (no torch): extraction reports through it too.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

PREFIX = "nwb-dyn: "
#: On a terminal: the longest silence before a running stage says it is still working.
TERMINAL_INTERVAL_S = 10.0
#: Off a terminal: the shortest time between two periodic lines (stage starts are always printed).
LOG_INTERVAL_S = 30.0


def duration_text(seconds: float) -> str:
    """``75.2`` → ``"1m 15s"``; under a minute ``"8.4 s"``; from an hour ``"1h 02m"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class Progress:
    """Writes ``nwb-dyn: ...`` lines to ``stream`` and remembers when it last did.

    interactive: whether ``stream`` is a terminal (None = ask it); interval_s: the heartbeat / throttle interval
    (None = :data:`TERMINAL_INTERVAL_S` on a terminal, :data:`LOG_INTERVAL_S` elsewhere); clock: seconds, monotonic
    (a fake one in tests).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.interval_s = (
            interval_s if interval_s is not None else (TERMINAL_INTERVAL_S if interactive else LOG_INTERVAL_S)
        )
        self.clock = clock
        self.last_line_s = clock()
        self._detail: str | None = None
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        """Print one line now."""
        with self._lock:
            self.stream.write(f"{PREFIX}{text}\n")
            self.stream.flush()
            self.last_line_s = self.clock()

    def due(self) -> bool:
        """True when :attr:`interval_s` has passed since the last line."""
        return self.clock() - self.last_line_s >= self.interval_s

    def update(self, text: str) -> None:
        """Note how far the current stage has got; printed when a line is due, else shown by the next heartbeat."""
        self._detail = text
        if self.due():
            self.line(text)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Announce ``name``; while it runs, say it is still working whenever :attr:`interval_s` passes silently
        (with the last :meth:`update`); when it took longer than that, say how long it took."""
        started = self.clock()
        self._detail = None
        self.line(f"{name} ...")
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(name, started, stop), daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()
            self._detail = None
            elapsed = self.clock() - started
            if elapsed >= self.interval_s:
                self.line(f"{name}: done in {duration_text(elapsed)}")

    def _heartbeat(self, name: str, started: float, stop: threading.Event) -> None:
        poll_s = min(1.0, self.interval_s / 4)
        while not stop.wait(poll_s):
            if self.due():
                detail = self._detail or "still working"
                self.line(f"{name}: {detail} ({duration_text(self.clock() - started)} so far)")


_current: Progress | None = None


def current() -> Progress:
    """The process's progress reporter on the current ``sys.stderr`` (made again when stderr was replaced)."""
    global _current
    if _current is None or _current.stream is not sys.stderr:
        _current = Progress()
    return _current


class TrainingLines:
    """One line per epoch with the losses and the time left under the run's caps; throttled off a terminal.

    Inside a long epoch a line per due interval says which batch it has reached. ``max_epochs``/``max_steps``/
    ``max_time_s`` are the Trainer's caps (None = none); the time left is the soonest cap's, so a fit that
    converges earlier ends sooner than it says.
    """

    def __init__(
        self,
        progress: Progress,
        max_epochs: int | None,
        max_steps: int | None,
        max_time_s: float | None,
        epochs_before: int = 0,
        steps_before: int = 0,
    ) -> None:
        self.progress = progress
        self.max_epochs = max_epochs if max_epochs and max_epochs > 0 else None
        self.max_steps = max_steps if max_steps and max_steps > 0 else None
        self.max_time_s = max_time_s
        self.epochs_before = (
            epochs_before  # a resumed run's earlier epochs and steps: not timed by this start
        )
        self.steps_before = steps_before
        self.started_s = progress.clock()
        self.epoch_started_s = self.started_s
        self.epoch_duration_s = 0.0
        self.printed_any = False

    def _time_left(self, epochs_done: int, steps_done: int, elapsed_s: float) -> str:
        """``", at most 3m 20s left (max_epochs cap; ...)"`` from the soonest cap, or "" without caps or progress."""
        estimates = []
        epochs_now, steps_now = epochs_done - self.epochs_before, steps_done - self.steps_before
        if self.max_epochs and epochs_now > 0:
            estimates.append((elapsed_s / epochs_now * (self.max_epochs - epochs_done), "max_epochs"))
        if self.max_steps and steps_now > 0:
            estimates.append((elapsed_s / steps_now * (self.max_steps - steps_done), "max_steps"))
        if self.max_time_s:
            estimates.append((self.max_time_s - elapsed_s, "max_time"))
        if not estimates:
            return ""
        left, cap = min(estimates)
        return f", at most {duration_text(max(left, 0.0))} left ({cap} cap; stops sooner once converged)"

    def epoch_end(self, epoch: int, steps_done: int, metrics: dict[str, float]) -> None:
        """After epoch ``epoch`` (0-based): a line on a terminal; else the first one, then whenever waiting for the
        next epoch's end would leave the log silent for longer than the interval (so lines come every
        interval - epoch … interval seconds, each with the losses)."""
        now = self.progress.clock()
        self.epoch_duration_s, self.epoch_started_s = now - self.epoch_started_s, now
        silent_s = now - self.progress.last_line_s
        if not (
            self.progress.interactive
            or not self.printed_any
            or silent_s + self.epoch_duration_s > self.progress.interval_s
        ):
            return
        self.printed_any = True
        elapsed = now - self.started_s
        of = f"/{self.max_epochs}" if self.max_epochs else ""
        values = ", ".join(f"{name} {value:.4g}" for name, value in sorted(metrics.items()))
        self.progress.line(
            f"training: epoch {epoch + 1}{of}, step {steps_done}"
            + (f", {values}" if values else "")
            + f", {duration_text(elapsed)} elapsed"
            + self._time_left(epoch + 1, steps_done, elapsed)
        )

    def batch_end(self, epoch: int, batch: int, num_batches: int | None) -> None:
        """After batch ``batch`` (0-based) of an epoch that has already run longer than the interval: a line when
        one is due (shorter epochs are reported at their end, with their losses)."""
        long_epoch = self.progress.clock() - self.epoch_started_s >= self.progress.interval_s
        if long_epoch and self.progress.due():
            of = f"/{num_batches}" if num_batches else ""
            elapsed = self.progress.clock() - self.started_s
            self.progress.line(
                f"training: epoch {epoch + 1}, batch {batch + 1}{of}, {duration_text(elapsed)} elapsed"
            )
