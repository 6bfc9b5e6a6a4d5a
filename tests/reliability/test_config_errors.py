"""Bad config keys and values (YAML or command line) stop with ConfigError, exit code 2 and the dotted key named.

Configuration is resolved before any source is opened, so these runs never touch an NWB file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pynwb import NWBHDF5IO

from nwb_dyn.api import fit
from nwb_dyn.config import resolve_config
from nwb_dyn.errors import ConfigError
from nwb_dyn.extract import extract_neural_data
from tests.helpers import run_cli, write_units_session


@pytest.mark.parametrize(
    "yaml_text, named",
    [
        ("trainer:\n  max_epoch: 3\n", "unknown config key 'trainer.max_epoch'"),
        ("trainer:\n  devices: two\n", "config key 'trainer.devices' must be an integer"),
        ("trainer:\n  strategy: horovod\n", "config key 'trainer.strategy' must be one of auto, ddp"),
        ("trainer:\n  lr_min_factor: 0\n", "config key 'trainer.lr_min_factor' must lie in (0, 1]"),
        ("trainer:\n  patience_steps: 0\n", "config key 'trainer.patience_steps' must be >= 1"),
        ("trainer: 5\n", "config key 'trainer' must be a mapping"),
    ],
)
def test_yaml_errors_name_the_key_and_exit_2(tmp_path: Path, yaml_text: str, named: str) -> None:
    config = tmp_path / "fit.yaml"
    config.write_text(yaml_text)
    code, stdout, stderr = run_cli("fit", str(tmp_path / "never-opened.nwb"), "--config", str(config))
    assert code == 2 and stdout == ""
    assert stderr.startswith("nwb-dyn: error: ") and named in stderr


@pytest.mark.parametrize(
    "option, value, named",
    [
        ("--strategy", "horovod", "'trainer.strategy'"),
        ("--precision", "8", "'trainer.precision'"),
        ("--num-nodes", "0", "'trainer.num_nodes' must be >= 1"),
        ("--accelerator", "tpu", "'trainer.accelerator'"),
    ],
)
def test_command_line_errors_name_the_key_and_exit_2(tmp_path: Path, option: str, value: str, named: str) -> None:
    code, _, stderr = run_cli("fit", str(tmp_path / "never-opened.nwb"), option, value)
    assert code == 2 and named in stderr and "Traceback" not in stderr


def test_command_line_overrides_the_yaml_file_and_both_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "fit.yaml"
    config.write_text("trainer:\n  strategy: horovod\n")
    code, _, stderr = run_cli("fit", str(tmp_path / "missing.nwb"), "--config", str(config), "--strategy", "ddp")
    assert code == 2 and "trainer.strategy" not in stderr and "missing.nwb" in stderr


def test_python_api_rejects_unknown_options_with_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option\\(s\\) strategyy"):
        fit(str(tmp_path / "x.nwb"), strategyy="ddp")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_requested_without_one_is_a_config_error(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "session.nwb", num_units=3, num_trials=4)
    code, _, stderr = run_cli("fit", str(source), "--out", str(tmp_path / "out"), "--accelerator", "gpu")
    assert code == 2 and "accelerator=gpu" in stderr and "change --accelerator" in stderr


def test_split_seed_moves_the_split_and_not_the_model_seed(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "session.nwb", num_units=24, num_trials=20)

    def split(**overrides):
        config = resolve_config(overrides={"data.heldout_fraction": 0.25, "data.bin_width_s": 0.05, **overrides})
        with NWBHDF5IO(str(source), "r") as io:
            data = extract_neural_data(io.read(), config.data, config.seed, str(source))
        return data.split.tolist(), data.held_out.tolist()

    default = split()
    assert split(**{"data.split_seed": 0}) == default  # unset means the fit's seed (0)
    moved = split(**{"data.split_seed": 5})
    assert moved[0] != default[0] and moved[1] != default[1]
    assert split(seed=5) == moved  # the same split as a fit seeded 5
