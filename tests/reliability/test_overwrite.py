"""An existing result is replaced only with ``--overwrite``; without it the file stays exactly as it was."""

from __future__ import annotations

from pathlib import Path

from pynwb import NWBHDF5IO

from tests.helpers import error_line, run_cli
from tests.reliability.conftest import TINY_FIT_ARGS, FinishedFit


def _identifier(path: Path) -> str:
    with NWBHDF5IO(str(path), mode="r", load_namespaces=True) as io:
        return io.read().identifier


def test_existing_result_needs_overwrite_and_then_is_replaced_whole(
    finished_fit: FinishedFit, tmp_path: Path
) -> None:
    fit = finished_fit.copy_to(tmp_path)
    before = fit.output.read_bytes()
    argv = ("fit", str(fit.source), "--out", str(fit.out), *TINY_FIT_ARGS)

    code, stdout, stderr = run_cli(*argv)
    assert (code, stdout) == (2, "")
    assert error_line(stderr) == (
        f"nwb-dyn: error: {fit.output} already exists; pass --overwrite to replace it, or choose another --out\n"
    )
    assert fit.output.read_bytes() == before

    code, stdout, stderr = run_cli(*argv, "--overwrite")
    assert code == 0, stderr
    assert Path(stdout.strip().splitlines()[-1]) == fit.output
    assert _identifier(fit.output) != _identifier(finished_fit.output)  # a new, complete, readable file
    assert sorted(p.name for p in fit.out.iterdir()) == sorted(
        [".nwb-dyn-runs", fit.output.name]
    )  # no leftovers
