"""``describe_fittable``: what a file offers and the default choice (units, else the largest neural series)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile

from nwb_dyn.extract.inventory import Inventory, describe_fittable
from tests.extract.builders import add_acquisition_series, add_fluorescence, add_lfp, add_position
from tests.helpers import empty_nwbfile, write_nwb


def _inventory(nwbfile: NWBFile, tmp_path: Path) -> Inventory:
    source = write_nwb(tmp_path / "session.nwb", nwbfile)
    with NWBHDF5IO(str(source), mode="r") as io:
        return describe_fittable(io.read())


def test_units_come_first_and_their_spikes_are_counted(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.add_unit(spike_times=[0.1, 0.2, 0.3])
    nwbfile.add_unit(spike_times=[0.5])
    add_lfp(nwbfile, np.zeros((100, 2)), 100.0)
    inventory = _inventory(nwbfile, tmp_path)
    assert inventory.units.count == 2 and inventory.units.spike_count == 4
    assert inventory.default.path == "units" and inventory.default.modality == "ecephys"
    assert "4 spikes" in inventory.default.reason


def test_without_units_the_largest_neural_series_is_chosen_over_bigger_behaviour(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    add_lfp(nwbfile, np.zeros((100, 3)), 100.0)
    fluorescence = add_fluorescence(nwbfile, np.zeros((200, 4)), 30.0)
    add_position(nwbfile, np.zeros((5000, 2)), 1000.0)
    inventory = _inventory(nwbfile, tmp_path)
    assert inventory.default.path == fluorescence and inventory.default.modality == "ophys"
    assert "largest of 2 fittable neural" in inventory.default.reason
    by_path = {item.path: item for item in inventory.series}
    assert by_path[fluorescence].shape == (200, 4) and by_path[fluorescence].rate_hz == 30.0
    assert by_path["processing/behavior/Position/hand"].unit == "meters"


def test_a_single_plain_series_is_the_default_and_images_are_not_fittable(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    path = add_acquisition_series(nwbfile, "signal", np.zeros((50, 2)), timestamps=np.arange(50) / 10.0)
    add_acquisition_series(nwbfile, "movie", np.zeros((5, 4, 4)), rate=1.0)
    inventory = _inventory(nwbfile, tmp_path)
    assert inventory.default.path == path and "only fittable TimeSeries" in inventory.default.reason
    movie = next(item for item in inventory.series if item.path == "acquisition/movie")
    assert not movie.fittable and movie.why_not == "3-D data"
    signal = next(item for item in inventory.series if item.path == path)
    assert signal.num_timestamps == 50 and signal.rate_hz is None


def test_nothing_fittable_gives_no_default_and_a_reason(tmp_path: Path) -> None:
    inventory = _inventory(empty_nwbfile(), tmp_path)
    assert inventory.default is None and "no Units table" in inventory.reason
    assert any(line.startswith("default: nothing to fit") for line in inventory.lines())


def test_trials_and_other_interval_tables_are_listed(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.add_trial_column(name="go_time", description="go cue")
    nwbfile.add_trial(start_time=0.0, stop_time=1.0, go_time=0.5)
    nwbfile.add_epoch(start_time=0.0, stop_time=2.0)
    nwbfile.add_unit(spike_times=[0.5])
    inventory = _inventory(nwbfile, tmp_path)
    assert inventory.trials.rows == 1 and "go_time" in inventory.trials.columns
    assert [table.name for table in inventory.other_intervals] == ["epochs"]
