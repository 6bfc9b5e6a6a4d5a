"""Every series in an output carries its own time base and every table column is 1-D, as viewers need."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from hdmf.common import DynamicTable, VectorData
from pynwb import NWBHDF5IO, TimeSeries

from nwb_dyn.results import write_result
from nwb_dyn.testing import mock_fit_record, mock_model_products, mock_neural_data
from tests.helpers import empty_nwbfile, write_nwb
from tests.results.viewer_checks import viewer_problems

SERIES = ("latents", "rates", "states", "state_probabilities")


def test_every_series_of_an_output_has_its_own_timestamps_and_every_column_is_1d(tmp_path: Path) -> None:
    data = mock_neural_data()  # windows with gaps between them: timestamps, not a rate
    path = write_result(tmp_path / "fit.nwb", data, mock_model_products(data), mock_fit_record())
    assert viewer_problems(path) == []
    expected = np.sort(data.bin_start_s.ravel()) + data.bin_width_s / 2
    with h5py.File(path, "r") as handle:
        module = handle["processing/misc"]
        for name in SERIES:
            assert isinstance(module[name].get("timestamps", getlink=True), h5py.HardLink), name
            np.testing.assert_allclose(module[name]["timestamps"][:], expected, err_msg=name)
        table = module["fixed_points"]
        assert all(table[column].ndim == 1 for column in table.attrs["colnames"])


def test_fixed_point_table_reads_into_pandas_with_a_number_per_cell(tmp_path: Path) -> None:
    data = mock_neural_data()
    products = mock_model_products(data)
    path = write_result(tmp_path / "fit.nwb", data, products, mock_fit_record())
    with NWBHDF5IO(str(path), mode="r") as io:
        frame = io.read().processing["misc"]["fixed_points"].to_dataframe()
    expected = products.fixed_points
    np.testing.assert_array_equal(frame[["location_0", "location_1"]].to_numpy(), expected.location)
    np.testing.assert_array_equal(frame["eigenvalue_1_imag"].to_numpy(), expected.eigenvalues[:, 1].imag)
    assert list(frame["linear_region"]) == [",".join(map(str, row)) for row in expected.region]


def test_the_check_catches_linked_timestamps_and_2d_columns(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    module = nwbfile.create_processing_module("misc", "test")
    first = TimeSeries(name="first", data=np.zeros((5, 2)), unit="a.u.", timestamps=np.arange(5.0) * 0.1)
    module.add(first)
    module.add(
        TimeSeries(name="second", data=np.zeros(5), unit="a.u.", timestamps=first)
    )  # written as a link
    table = DynamicTable(
        name="table",
        description="2-D column",
        columns=[VectorData(name="location", description="(n, 2)", data=np.zeros((3, 2)))],
    )
    module.add(table)
    path = write_nwb(tmp_path / "linked.nwb", nwbfile)
    problems = viewer_problems(path)
    assert problems == [
        "/processing/misc/second/timestamps is a SoftLink, not a dataset of its own",
        "/processing/misc/table/location is a 2-D column; viewers show 1-D columns",
    ]
