"""Every bad input a user can give ends in one clear line, exit code 2 and our exception type — never a traceback.

One table: each case builds its bad input under ``tmp_path`` and names the command (CLI words and the same call
through the Python API), the :class:`~nwb_dyn.errors.NwbDynError` subclass expected and the fragments (file name,
field or option) the message must contain. Each case is run both ways, and afterwards every file that existed
before (the sources above all) must be byte-for-byte unchanged and no ``.nwb`` file may have appeared.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from pynwb.epoch import TimeIntervals
from pynwb.misc import Units

from nwb_dyn import api
from nwb_dyn.errors import (
    ConfigError,
    DandiError,
    ExtractionError,
    NwbDynError,
    OutputError,
    SourceError,
    TrainingError,
)
from nwb_dyn.ls import list_source
from nwb_dyn.model_selection import select_model
from tests.dandi_standin import DandiStandin
from tests.extract.builders import add_acquisition_series
from tests.helpers import empty_nwbfile, error_line, run_cli, write_nwb, write_units_session

#: The smallest model: none of these cases should reach training, and if one did it would be quick.
TINY_FIT: dict[str, Any] = {"max_epochs": 1, "units": 8, "particles": 4, "batch_size": 4}
#: write_units_session("units.nwb") fitted with the low-rank model is written under this name.
UNITS_OUTPUT_NAME = "sub-units_desc-lowrank_ecephys.nwb"


@dataclass(frozen=True)
class Invocation:
    """One command given two ways: ``nwb-dyn ARGV`` and the equivalent Python API ``call``."""

    argv: tuple[str, ...]
    call: Callable[[], object]


def _flags(options: dict[str, Any]) -> list[str]:
    """CLI words for API keyword options (``bin_width=0`` → ``--bin-width 0``; lists give several values)."""
    words: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        elif isinstance(value, (list, tuple)):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return words


def fit_command(source: str | Path, out: Path, model: str = "lowrank", **options: Any) -> Invocation:
    """``nwb-dyn fit`` and :func:`nwb_dyn.api.fit` with ``options`` over the tiny defaults."""
    options = {**TINY_FIT, **options}
    argv = ("fit", str(source), "--out", str(out), "--model", model, *_flags(options))
    return Invocation(argv, functools.partial(api.fit, str(source), model=model, out=out, **options))


def ls_command(source: str | Path, **options: Any) -> Invocation:
    return Invocation(
        ("ls", str(source), *_flags(options)), functools.partial(list_source, str(source), **options)
    )


def evaluate_command(result: Path) -> Invocation:
    return Invocation(("evaluate", str(result)), functools.partial(api.evaluate, result))


def report_command(result: Path, out: Path) -> Invocation:
    return Invocation(
        ("report", str(result), "--out", str(out)), functools.partial(api.report, result, out=out)
    )


def select_command(source: Path, out: Path, model: str, ranks: Sequence[int]) -> Invocation:
    argv = (
        "select",
        str(source),
        "--model",
        model,
        "--rank",
        *map(str, ranks),
        "--seeds",
        "1",
        "--out",
        str(out),
    )
    call = functools.partial(
        select_model, str(source), model, list(ranks), grid_option="rank", seeds=1, out=out
    )
    return Invocation(argv, call)


@dataclass
class Workspace:
    """Where a case builds its inputs; ``standin`` starts the DANDI stand-in only for the cases that use it."""

    root: Path
    request: pytest.FixtureRequest
    monkeypatch: pytest.MonkeyPatch

    @property
    def out(self) -> Path:
        return self.root / "out"

    @functools.cached_property
    def standin(self) -> DandiStandin:
        return self.request.getfixturevalue("standin")

    def units_session(self) -> Path:
        return write_units_session(self.root / "units.nwb")

    def nwb(self, name: str, build: Callable[[Any], None] = lambda nwbfile: None) -> Path:
        nwbfile = empty_nwbfile()
        build(nwbfile)
        return write_nwb(self.root / name, nwbfile)

    def text(self, name: str, content: str) -> Path:
        path = self.root / name
        path.write_text(content)
        return path


@dataclass(frozen=True)
class BadInput:
    """A table row: ``build`` makes the input and returns the command; the error type and what it must name."""

    id: str
    build: Callable[[Workspace], Invocation]
    error: type[NwbDynError]
    named: tuple[str, ...]
    network: bool = field(default=False)


# -- builders of bad NWB files ----------------------------------------------------------------------------------------


def _truncated(ws: Workspace) -> Invocation:
    whole = ws.units_session().read_bytes()
    (ws.root / "units.nwb").unlink()
    truncated = ws.root / "truncated.nwb"
    truncated.write_bytes(whole[: len(whole) // 2])
    return fit_command(truncated, ws.out)


def _plain_hdf5(ws: Workspace) -> Invocation:
    path = ws.root / "plain.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = [1, 2, 3]
    return fit_command(path, ws.out)


def _empty_units(nwbfile: Any) -> None:
    nwbfile.units = Units(name="units")


def _silent_units(nwbfile: Any) -> None:
    nwbfile.add_unit(spike_times=[])
    nwbfile.add_unit(spike_times=[])


def _nan_series(nwbfile: Any) -> None:
    add_acquisition_series(nwbfile, "broken", np.full((200, 2), np.nan), rate=100.0)


def _jumpy_timestamps(nwbfile: Any) -> None:
    add_acquisition_series(nwbfile, "jumpy", np.zeros((5, 1)), timestamps=[0.0, 1.0, 0.5, 2.0, 3.0])


def _zero_length_trial(nwbfile: Any) -> None:
    nwbfile.add_trial(start_time=0.0, stop_time=1.0)
    nwbfile.add_trial(start_time=2.0, stop_time=2.0)
    nwbfile.add_unit(spike_times=np.linspace(0, 3, 50))


def _units_and_a_signal(nwbfile: Any) -> None:
    nwbfile.add_unit(spike_times=np.linspace(0, 3, 50))
    add_acquisition_series(nwbfile, "signal", np.zeros((100, 1)), rate=10.0)
    epochs = TimeIntervals(name="blocks", description="task blocks")
    epochs.add_interval(start_time=0.0, stop_time=1.0)
    nwbfile.add_time_intervals(epochs)


def _existing_output(ws: Workspace) -> Invocation:
    source = ws.units_session()
    ws.out.mkdir()
    (ws.out / UNITS_OUTPUT_NAME).write_bytes(b"an earlier result")
    return fit_command(source, ws.out)


def _checkpoint(ws: Workspace, content: dict[str, Any] | bytes) -> Invocation:
    path = ws.root / "given.ckpt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return fit_command(ws.units_session(), ws.out, resume=path)


def _yaml(ws: Workspace, text: str) -> Invocation:
    return fit_command(ws.units_session(), ws.out, config=ws.text("fit.yaml", text))


def _http_failure(ws: Workspace, status: int) -> Invocation:
    ws.monkeypatch.setenv("NWB_DYN_HTTP_RETRIES", "1")
    ws.standin.answer_status("session.nwb", status)
    return fit_command(ws.standin.file_url("session.nwb"), ws.out)


def _hanging_server(ws: Workspace) -> Invocation:
    ws.monkeypatch.setenv("NWB_DYN_HTTP_TIMEOUT_S", "0.3")
    ws.monkeypatch.setenv("NWB_DYN_HTTP_RETRIES", "1")
    ws.standin.hang_for(2.0)
    return ls_command(ws.standin.file_url("session.nwb"))


CASES: tuple[BadInput, ...] = (
    # sources
    BadInput(
        "missing-file",
        lambda ws: fit_command(ws.root / "nope.nwb", ws.out),
        SourceError,
        ("nope.nwb", "no such file"),
    ),
    BadInput("directory", lambda ws: fit_command(ws.root, ws.out), SourceError, ("work is a directory",)),
    BadInput(
        "not-hdf5",
        lambda ws: fit_command(ws.text("notes.nwb", "just text"), ws.out),
        SourceError,
        ("notes.nwb", "not an HDF5 file"),
    ),
    BadInput("truncated-hdf5", _truncated, SourceError, ("truncated.nwb", "truncated")),
    BadInput("hdf5-not-nwb", _plain_hdf5, SourceError, ("plain.h5", "not an NWB file")),
    BadInput(
        "ftp-url", lambda ws: ls_command("ftp://example.org/x.nwb"), SourceError, ("ftp://", "https://")
    ),
    BadInput("file-url", lambda ws: fit_command("file:///etc/passwd", ws.out), SourceError, ("file://",)),
    BadInput(
        "malformed-dandiset",
        lambda ws: fit_command("dandiset:12", ws.out),
        SourceError,
        ("dandiset:12", "6-digit"),
    ),
    BadInput(
        "malformed-dandi-version",
        lambda ws: fit_command("dandiset:000140@v1", ws.out),
        SourceError,
        ("'v1'", "not a DANDI version"),
    ),
    # extraction
    BadInput(
        "no-fittable-data",
        lambda ws: fit_command(ws.nwb("empty.nwb"), ws.out),
        ExtractionError,
        ("empty.nwb", "Units"),
    ),
    BadInput(
        "empty-units-table",
        lambda ws: fit_command(ws.nwb("nounits.nwb", _empty_units), ws.out),
        ExtractionError,
        ("nounits.nwb", "Units"),
    ),
    BadInput(
        "units-without-spikes",
        lambda ws: fit_command(ws.nwb("silent.nwb", _silent_units), ws.out),
        ExtractionError,
        ("silent.nwb", "spike"),
    ),
    BadInput(
        "all-nan-series",
        lambda ws: fit_command(ws.nwb("nan.nwb", _nan_series), ws.out, series="acquisition/broken"),
        ExtractionError,
        ("nan.nwb", "acquisition/broken", "NaN"),
    ),
    BadInput(
        "non-monotonic-timestamps",
        lambda ws: fit_command(ws.nwb("jumpy.nwb", _jumpy_timestamps), ws.out, series="acquisition/jumpy"),
        ExtractionError,
        ("jumpy.nwb", "acquisition/jumpy", "not monotonic"),
    ),
    BadInput(
        "zero-length-trial",
        lambda ws: fit_command(ws.nwb("zero.nwb", _zero_length_trial), ws.out),
        ExtractionError,
        ("zero.nwb", "row 1 of the trials table", "stop_time"),
    ),
    BadInput(
        "window-outside-the-data",
        lambda ws: fit_command(ws.units_session(), ws.out, align="start_time", window=(500, 501)),
        ExtractionError,
        ("units.nwb", "--window"),
    ),
    BadInput(
        "unknown-series-path",
        lambda ws: fit_command(
            ws.nwb("one.nwb", _units_and_a_signal), ws.out, series="acquisition/ElectricalSeries"
        ),
        ExtractionError,
        ("one.nwb", "acquisition/ElectricalSeries", "acquisition/signal"),
    ),
    BadInput(
        "unknown-trials-column",
        lambda ws: fit_command(ws.units_session(), ws.out, align="go_cue_time", window=(-0.1, 0.1)),
        ExtractionError,
        ("units.nwb", "go_cue_time"),
    ),
    BadInput(
        "unknown-units-column",
        lambda ws: fit_command(ws.units_session(), ws.out, units_where="quality == 'good'"),
        ExtractionError,
        ("units.nwb", "--units-where", "quality"),
    ),
    BadInput(
        "unknown-input-series",
        lambda ws: fit_command(ws.units_session(), ws.out, inputs=["acquisition/nothing"]),
        ExtractionError,
        ("units.nwb", "--inputs acquisition/nothing"),
    ),
    BadInput(
        "unknown-intervals-table",
        lambda ws: fit_command(ws.nwb("one.nwb", _units_and_a_signal), ws.out, intervals="encoding"),
        ExtractionError,
        ("one.nwb", "--intervals encoding", "blocks"),
    ),
    BadInput(
        "bin-width-longer-than-trials",
        lambda ws: fit_command(ws.units_session(), ws.out, bin_width=0.75),
        ExtractionError,
        ("units.nwb", "--bin-width"),
    ),
    # configuration
    BadInput(
        "zero-bin-width",
        lambda ws: fit_command(ws.units_session(), ws.out, bin_width=0),
        ConfigError,
        ("data.bin_width_s", "> 0"),
    ),
    BadInput(
        "negative-bin-width",
        lambda ws: fit_command(ws.units_session(), ws.out, bin_width=-0.02),
        ConfigError,
        ("data.bin_width_s", "> 0"),
    ),
    BadInput(
        "unknown-model",
        lambda ws: fit_command(ws.units_session(), ws.out, model="lstm"),
        ConfigError,
        ("lstm", "lowrank"),
    ),
    BadInput(
        "zero-rank",
        lambda ws: fit_command(ws.units_session(), ws.out, rank=0),
        ConfigError,
        ("lowrank.rank",),
    ),
    BadInput(
        "unknown-config-key",
        lambda ws: _yaml(ws, "trainer:\n  max_epoch: 3\n"),
        ConfigError,
        ("'trainer.max_epoch'",),
    ),
    BadInput(
        "config-value-of-wrong-type",
        lambda ws: _yaml(ws, "lowrank:\n  rank: three\n"),
        ConfigError,
        ("'lowrank.rank'", "integer"),
    ),
    BadInput(
        "config-not-yaml",
        lambda ws: _yaml(ws, "trainer: [unclosed\n"),
        ConfigError,
        ("fit.yaml", "not valid YAML"),
    ),
    BadInput(
        "config-not-a-mapping", lambda ws: _yaml(ws, "- 1\n- 2\n"), ConfigError, ("fit.yaml", "mapping")
    ),
    BadInput(
        "missing-config-file",
        lambda ws: fit_command(ws.units_session(), ws.out, config=ws.root / "nope.yaml"),
        ConfigError,
        ("nope.yaml", "--config"),
    ),
    BadInput(
        "select-unknown-model",
        lambda ws: select_command(ws.units_session(), ws.out, "lstm", [2]),
        ConfigError,
        ("lstm",),
    ),
    # outputs
    BadInput(
        "out-is-a-file",
        lambda ws: fit_command(ws.units_session(), ws.text("taken", "")),
        OutputError,
        ("taken", "--out"),
    ),
    BadInput(
        "out-under-a-file",
        lambda ws: fit_command(ws.units_session(), ws.text("taken", "") / "out"),
        OutputError,
        ("taken/out", "--out"),
    ),
    BadInput(
        "existing-output-without-overwrite", _existing_output, OutputError, (UNITS_OUTPUT_NAME, "--overwrite")
    ),
    BadInput(
        "evaluate-a-file-that-is-no-result",
        lambda ws: evaluate_command(ws.units_session()),
        OutputError,
        ("units.nwb", "no nwb-dyn result"),
    ),
    BadInput(
        "evaluate-a-missing-result",
        lambda ws: evaluate_command(ws.root / "gone.nwb"),
        OutputError,
        ("gone.nwb", "does not exist"),
    ),
    BadInput(
        "report-a-file-that-is-no-result",
        lambda ws: report_command(ws.units_session(), ws.root / "report"),
        OutputError,
        ("units.nwb", "no nwb-dyn result"),
    ),
    # checkpoints
    BadInput(
        "checkpoint-of-an-incompatible-model",
        lambda ws: _checkpoint(ws, {"epoch": 0, "state_dict": {"model.n": torch.zeros(7, 7)}}),
        TrainingError,
        ("given.ckpt", "incompatible model", "--fresh"),
    ),
    BadInput(
        "checkpoint-that-is-not-one",
        lambda ws: _checkpoint(ws, b"PK\x03\x04 not a checkpoint"),
        TrainingError,
        ("given.ckpt", "cannot be read"),
    ),
    BadInput(
        "missing-checkpoint",
        lambda ws: fit_command(ws.units_session(), ws.out, resume=ws.root / "gone.ckpt"),
        TrainingError,
        ("gone.ckpt", "does not exist"),
    ),
    # DANDI and the network (the stand-in of tests/dandi_standin.py)
    BadInput(
        "unknown-dandiset",
        lambda ws: fit_command("dandiset:000404", ws.out),
        DandiError,
        ("dandiset 000404 does not exist",),
        network=True,
    ),
    BadInput(
        "unknown-dandi-version",
        lambda ws: fit_command("dandiset:000140@0.999999.9999", ws.out),
        DandiError,
        ("DANDI:000140", "'0.999999.9999'"),
        network=True,
    ),
    BadInput(
        "unknown-dandi-asset",
        lambda ws: fit_command("dandiset:000999/sub-z/sub-z_ecephys.nwb", ws.out),
        DandiError,
        ("'sub-z/sub-z_ecephys.nwb'", "nwb-dyn ls"),
        network=True,
    ),
    BadInput(
        "embargoed-without-key",
        lambda ws: ls_command("dandiset:000777"),
        DandiError,
        ("HTTP 401", "DANDI_API_KEY"),
        network=True,
    ),
    BadInput(
        "http-403", lambda ws: _http_failure(ws, 403), SourceError, ("HTTP 403", "session.nwb"), network=True
    ),
    BadInput(
        "http-404", lambda ws: _http_failure(ws, 404), SourceError, ("HTTP 404", "session.nwb"), network=True
    ),
    BadInput(
        "http-500", lambda ws: _http_failure(ws, 500), SourceError, ("HTTP 500", "session.nwb"), network=True
    ),
    BadInput(
        "server-hangs",
        _hanging_server,
        SourceError,
        ("session.nwb", "did not answer within 0.3 s"),
        network=True,
    ),
)


def _fingerprints(root: Path) -> dict[Path, tuple[str, int]]:
    """sha256 and mtime (ns) of every file under ``root``."""
    return {
        path: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


def test_the_table_covers_at_least_30_distinct_bad_inputs() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 30
    assert {case.error for case in CASES} == {
        SourceError,
        DandiError,
        ExtractionError,
        ConfigError,
        TrainingError,
        OutputError,
    }


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_one_clear_line_exit_2_and_our_error(
    case: BadInput, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = Workspace(tmp_path / "work", request, monkeypatch)
    workspace.root.mkdir()
    if case.network:
        assert workspace.standin is not None  # start it (and point the environment at it) before building
    invocation = case.build(workspace)
    before = _fingerprints(workspace.root)

    code, stdout, stderr = run_cli(*invocation.argv)
    assert (code, stdout) == (2, ""), stderr
    error_line(stderr)  # one error line, last, after at most the progress lines of stages that had started
    for fragment in case.named:
        assert fragment in stderr, (fragment, stderr)

    with pytest.raises(NwbDynError) as raised:
        invocation.call()
    assert type(raised.value) is case.error, repr(raised.value)
    for fragment in case.named:
        assert fragment in str(raised.value), (fragment, str(raised.value))

    after = _fingerprints(workspace.root)
    assert {path: after.get(path) for path in before} == before, "a failed command changed an existing file"
    assert not [path for path in after if path.suffix == ".nwb" and path not in before], (
        "a failed command wrote NWB"
    )


def test_read_only_out_directory_is_refused_before_any_work(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "units.nwb")
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    if os.access(read_only, os.W_OK):
        pytest.skip("this user (root) can write into a read-only directory")
    invocation = fit_command(source, read_only)
    code, stdout, stderr = run_cli(*invocation.argv)
    assert (code, stdout) == (2, "")
    assert stderr == (
        f"nwb-dyn: error: cannot write into {read_only} (permission denied); "
        "pass an --out directory you can write to\n"
    )
    with pytest.raises(OutputError, match="cannot write into .*read-only"):
        invocation.call()
    assert list(read_only.iterdir()) == []
