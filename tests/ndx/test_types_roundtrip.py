"""Every ``ndx-dyn`` type: is an instance of the core type it claims, and survives write → read unchanged."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from hdmf.common import DynamicTable
from pynwb import NWBHDF5IO, TimeSeries
from pynwb.core import NWBDataInterface
from pynwb.epoch import TimeIntervals

from nwb_dyn import testing
from tests.helpers import empty_nwbfile

# (mock factory, core class, fields compared after the roundtrip)
CASES: list[tuple[Callable, type, tuple[str, ...]]] = [
    (testing.mock_LatentSeries, TimeSeries, ("data", "estimate", "rate", "starting_time", "unit")),
    (testing.mock_DiscreteStateSeries, TimeSeries, ("data", "num_states", "continuity", "unit")),
    (testing.mock_StateProbabilitySeries, TimeSeries, ("data", "unit")),
    (testing.mock_RateSeries, TimeSeries, ("data", "channel_ids", "unit")),
    (testing.mock_GeneratedSeries, TimeSeries, ("data", "content", "num_runs", "seed", "conditioning")),
    (
        testing.mock_FitProvenance,
        NWBDataInterface,
        ("source_kind", "dandiset_id", "asset_id", "sha256", "seed"),
    ),
]
TABLES: list[tuple[Callable, type]] = [
    (testing.mock_StateSegments, TimeIntervals),
    (testing.mock_FixedPointTable, DynamicTable),
]


def _roundtrip(container, tmp_path: Path, check: Callable) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.create_processing_module(name="misc", description="roundtrip").add(container)
    path = tmp_path / "roundtrip.nwb"
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    with NWBHDF5IO(str(path), mode="r") as io:
        check(io.read().processing["misc"][container.name])


def _value(value):
    return np.asarray(value[:]) if hasattr(value, "shape") and np.ndim(value) else value


@pytest.mark.parametrize(("factory", "core", "fields"), CASES, ids=[case[0].__name__ for case in CASES])
def test_series_and_records_roundtrip(
    factory: Callable, core: type, fields: tuple[str, ...], tmp_path: Path
) -> None:
    original = factory()
    assert isinstance(original, core)

    def check(read) -> None:
        assert type(read) is type(original)
        for name in fields:
            np.testing.assert_array_equal(
                _value(getattr(read, name)), _value(getattr(original, name)), err_msg=name
            )

    _roundtrip(original, tmp_path, check)


@pytest.mark.parametrize(("factory", "core"), TABLES, ids=[case[0].__name__ for case in TABLES])
def test_tables_roundtrip(factory: Callable, core: type, tmp_path: Path) -> None:
    original = factory()
    assert isinstance(original, core)
    expected = original.to_dataframe()

    def check(read) -> None:
        assert type(read) is type(original) and read.colnames == original.colnames
        got = read.to_dataframe()
        for column in expected.columns:
            np.testing.assert_array_equal(np.stack(got[column]), np.stack(expected[column]), err_msg=column)
        for attribute in ("kind", "eigenvalue_reading"):
            if hasattr(original, attribute):
                assert getattr(read, attribute) == getattr(original, attribute)

    _roundtrip(original, tmp_path, check)


def test_dynamics_model_roundtrip_keeps_every_named_weight(tmp_path: Path) -> None:
    original = testing.mock_DynamicsModel()
    assert isinstance(original, NWBDataInterface)

    def check(read) -> None:
        assert (read.family, read.hyperparameters, read.metrics) == (
            original.family,
            original.hyperparameters,
            original.metrics,
        )
        assert set(read.model_parameters) == {"m", "observation.readout.bias", "decay_logit"}
        for name, parameter in original.model_parameters.items():
            np.testing.assert_array_equal(read.get_model_parameter(name).data[:], parameter.data)

    _roundtrip(original, tmp_path, check)


def test_file_without_nwb_dyn_reads_every_type_as_its_core_type(tmp_path: Path) -> None:
    """A reader that never imports nwb_dyn rebuilds our types from the cached spec, subclasses of the core ones."""
    nwbfile = empty_nwbfile()
    module = nwbfile.create_processing_module(name="misc", description="all types")
    for factory in [case[0] for case in CASES] + [case[0] for case in TABLES] + [testing.mock_DynamicsModel]:
        module.add(factory())
    path = tmp_path / "all_types.nwb"
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    with h5py.File(path, "r") as handle:
        assert "0.3.0" in handle["specifications/ndx-dyn"]
    script = (
        "import sys; from pynwb import NWBHDF5IO, TimeSeries; from pynwb.epoch import TimeIntervals;"
        "from hdmf.common import DynamicTable\n"
        f"io = NWBHDF5IO({str(path)!r}, 'r'); m = io.read().processing['misc']\n"
        "assert 'nwb_dyn' not in sys.modules\n"
        "core = {'latents': TimeSeries, 'states': TimeSeries, 'state_probabilities': TimeSeries, 'rates': TimeSeries,"
        " 'generated_latents': TimeSeries, 'state_segments': TimeIntervals, 'fixed_points': DynamicTable}\n"
        "print(sorted(n for n, c in core.items() if isinstance(m[n], c)), m['latents'].estimate); io.close()"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [
        "['fixed_points',",
        "'generated_latents',",
        "'latents',",
        "'rates',",
        "'state_probabilities',",
        "'state_segments',",
        "'states']",
        "smoothed",
    ]
