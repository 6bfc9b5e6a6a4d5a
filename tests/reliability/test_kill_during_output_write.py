"""A process killed (SIGKILL) while writing its result leaves no partial file at the final path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pynwb import NWBHDF5IO

from tests.conftest import PROJECT_ROOT
from tests.reliability.conftest import TINY_FIT_ARGS, FinishedFit

# The child builds a real result with the real writer, but kills itself right after HDF5 has written the data
# and before the atomic rename: the worst moment.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import numpy as np
    import pynwb
    from nwb_dyn.config import DataConfig
    from nwb_dyn.extract import extract_neural_data
    from nwb_dyn.analysis.products import ModelProducts
    from nwb_dyn.results.writer import FitRecord, write_result

    source, final = Path(sys.argv[1]), Path(sys.argv[2])
    with pynwb.NWBHDF5IO(str(source), "r") as io:
        data = extract_neural_data(io.read(), DataConfig(bin_width_s=0.05), 0, str(source))
    products = ModelProducts(
        family="lowrank",
        latents=np.zeros((data.num_windows, data.num_bins, 2), np.float32),
        latent_estimate="smoothed",
        rates=np.ones_like(data.values),
        weights={},
        hyperparameters={},
    )
    record = FitRecord(source={"kind": "local", "location": str(source)}, config={}, seed=0, versions={},
                       command="test", training_summary={})
    original_write = pynwb.NWBHDF5IO.write
    def write_then_die(self, *args, **kwargs):
        original_write(self, *args, **kwargs)
        self.close()
        os.kill(os.getpid(), signal.SIGKILL)
    pynwb.NWBHDF5IO.write = write_then_die
    write_result(final, data, products, record)
    """
)


def _run_child(source: Path, final: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")}
    command = [sys.executable, "-c", CHILD, str(source), str(final)]
    return subprocess.run(command, env=env, timeout=120, check=False).returncode


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    from tests.helpers import write_units_session

    return write_units_session(tmp_path / "source.nwb")


def test_kill_during_write_leaves_no_file_at_final_path(tmp_path: Path, source: Path) -> None:
    final = tmp_path / "out" / "result.nwb"
    code = _run_child(source, final)
    assert code == -9
    assert not final.exists()
    leftovers = [p.name for p in final.parent.iterdir()]
    assert leftovers and all(name.endswith(".partial.nwb") for name in leftovers)


def test_kill_during_write_keeps_the_previous_complete_file(tmp_path: Path, source: Path) -> None:
    final = tmp_path / "out" / "result.nwb"
    final.parent.mkdir()
    final.write_bytes(source.read_bytes())
    before = final.read_bytes()
    assert _run_child(source, final) == -9
    assert final.read_bytes() == before
    with NWBHDF5IO(str(final), "r") as io:
        assert len(io.read().units) == 6


# The real `nwb-dyn fit` in its own process. The only change: once HDF5 has written the result (to the temporary
# file) the process pauses before the atomic rename, so the parent's SIGKILL lands during the output write every
# time instead of by luck.
SLOW_CLI = textwrap.dedent(
    """
    import sys, time
    import pynwb
    from nwb_dyn.cli import main

    original_write = pynwb.NWBHDF5IO.write
    def write_then_pause(self, *args, **kwargs):
        original_write(self, *args, **kwargs)
        time.sleep(120)
    pynwb.NWBHDF5IO.write = write_then_pause
    sys.exit(main(sys.argv[1:]))
    """
)


def _sigkill_once_partial_output_is_written(argv: list[str], out: Path, final: Path) -> int:
    """Run the CLI fit in a child; SIGKILL it as soon as its temporary result file has bytes; return its code."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")}
    child = subprocess.Popen([sys.executable, "-c", SLOW_CLI, *argv], cwd=PROJECT_ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240  # imports alone take many seconds on a busy 2-core machine
    while child.poll() is None and time.monotonic() < deadline:
        if any(p.stat().st_size > 0 for p in out.glob(f".{final.name}.*.partial.nwb")):
            os.kill(child.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    else:
        child.kill()
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, stderr.decode()
    return child.returncode


def test_cli_fit_killed_while_writing_keeps_the_previous_result(
    finished_fit: FinishedFit, tmp_path: Path
) -> None:
    fit = finished_fit.copy_to(tmp_path)
    previous = fit.output.read_bytes()
    argv = ["fit", str(fit.source), "--out", str(fit.out), "--overwrite", *TINY_FIT_ARGS]

    _sigkill_once_partial_output_is_written(argv, fit.out, fit.output)
    assert fit.output.read_bytes() == previous  # the complete old result, untouched
    with NWBHDF5IO(str(fit.output), "r", load_namespaces=True) as io:
        assert "misc" in io.read().processing
    # the killed write's temporary file is hidden (a leading dot) and never carries a final name
    assert [p.name for p in fit.out.glob("*.nwb") if not p.name.startswith(".")] == [fit.output.name]


def test_next_write_clears_temporaries_left_by_a_killed_writer(tmp_path: Path, source: Path) -> None:
    from nwb_dyn.results.writer import write_result
    from nwb_dyn.testing.synthetic import mock_fit_record, mock_model_products, mock_neural_data

    final = tmp_path / "out" / "result.nwb"
    assert _run_child(source, final) == -9
    assert any(p.name.endswith(".partial.nwb") for p in final.parent.iterdir())
    data = mock_neural_data()
    write_result(final, data, mock_model_products(data), mock_fit_record())
    assert [p.name for p in final.parent.iterdir()] == ["result.nwb"]
