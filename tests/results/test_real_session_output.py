"""The writer on a real session (MC_Maze_Small): clean output carrying the source's units, trials and subject."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_dyn.config import DataConfig
from nwb_dyn.extract import extract_neural_data
from nwb_dyn.results import read, write_result
from nwb_dyn.testing import mock_fit_record, mock_model_products
from tests.nwb_checks import assert_output_clean


def test_real_session_result_is_clean_and_carries_the_source(mc_maze_small: Path, tmp_path: Path) -> None:
    with NWBHDF5IO(str(mc_maze_small), mode="r") as io:
        source = io.read()
        data = extract_neural_data(source, DataConfig(), seed=0, label=str(mc_maze_small))
        source_ids = np.asarray(source.units.id[:])
        source_spikes = np.concatenate(
            [source.units.get_unit_spike_times(row) for row in range(len(source_ids))]
        )
        num_trials = len(source.trials)
        assert source.units.resolution is None or np.isnan(source.units.resolution)  # so we must infer it
    path = write_result(tmp_path / "fit.nwb", data, mock_model_products(data, rank=3), mock_fit_record())
    assert_output_clean(path)
    with NWBHDF5IO(str(path), mode="r") as io:
        result = io.read()
        np.testing.assert_array_equal(result.units.id[:], source_ids)
        # the inferred resolution is a spacing the source's spike times really have, and none is finer
        gaps = np.diff(np.unique(np.round(source_spikes, 9)))
        assert result.units.resolution == pytest.approx(gaps[gaps > 0].min(), abs=1e-9)
        assert len(result.trials) == num_trials and result.subject.subject_id == "Jenkins"
    assert read(path).latents.shape == (data.num_windows * data.num_bins, 3)
