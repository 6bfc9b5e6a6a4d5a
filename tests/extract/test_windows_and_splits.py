"""Where windows go (trials, named intervals, tiles over obs_intervals ∩ epochs), masking, splits, held-out units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile

from nwb_dyn.config import DataConfig
from nwb_dyn.extract import NeuralData, extract_neural_data
from tests.extract.builders import add_position, poisson_trains
from tests.helpers import empty_nwbfile, write_nwb


def _extract(nwbfile: NWBFile, tmp_path: Path, settings: DataConfig, seed: int = 0) -> NeuralData:
    source = write_nwb(tmp_path / "session.nwb", nwbfile)
    with NWBHDF5IO(str(source), mode="r") as io:
        return extract_neural_data(io.read(), settings, seed, "session.nwb")


def test_tiles_cover_each_obs_interval_without_crossing_gaps(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    for times in poisson_trains(np.random.default_rng(0), 3, 9.0):
        nwbfile.add_unit(spike_times=times, obs_intervals=[[0.0, 3.5], [5.0, 8.2]])
    data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.1, window_length_s=1.0))
    assert np.allclose(data.window_intervals_s[:, 0], [0, 1, 2, 5, 6, 7])
    assert data.mask.all() and data.values.shape == (6, 10, 3)


def test_epochs_restrict_the_tiles_when_there_are_no_trials(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    for times in poisson_trains(np.random.default_rng(1), 2, 10.0):
        nwbfile.add_unit(spike_times=times)
    nwbfile.add_epoch(start_time=2.0, stop_time=5.5)
    data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.25, window_length_s=1.0))
    assert np.allclose(data.window_intervals_s, [[2, 3], [3, 4], [4, 5]])


def test_invalid_times_are_cut_out_of_the_tiles(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.add_unit(spike_times=np.linspace(0.0, 8.0, 200), obs_intervals=[[0.0, 8.0]])
    nwbfile.add_invalid_time_interval(start_time=2.5, stop_time=4.0)
    data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.5, window_length_s=1.0))
    assert np.allclose(data.window_intervals_s[:, 0], [0, 1, 4, 5, 6, 7])


def test_bins_outside_a_units_obs_intervals_are_masked_not_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    nwbfile = empty_nwbfile()
    for trial in range(6):
        nwbfile.add_trial(start_time=trial * 1.0, stop_time=trial * 1.0 + 0.8)
    trains = poisson_trains(rng, 2, 6.0, rate_hz=50.0)
    nwbfile.add_unit(spike_times=trains[0], obs_intervals=[[0.0, 6.0]])
    nwbfile.add_unit(spike_times=trains[1], obs_intervals=[[0.0, 2.4]])  # stops recording mid-trial 2
    data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.1))
    assert data.mask[:, :, 0].all()
    assert data.mask[:2, :, 1].all() and not data.mask[3:, :, 1].any()
    assert np.array_equal(data.mask[2, :, 1], np.arange(8) < 4)  # bins [2.0, 2.4) observed, the rest not
    assert (data.values[~data.mask] == 0).all() and data.values[3:, :, 0].sum() > 0


def test_split_column_is_used_and_other_rows_split_by_seed(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.add_trial_column(name="split", description="NLB split")
    labels = ["train", "val", "train", "test", "test", "test", "test", "val"]
    for trial, label in enumerate(labels):
        nwbfile.add_trial(start_time=trial * 1.0, stop_time=trial * 1.0 + 0.5, split=label)
    nwbfile.add_unit(spike_times=np.sort(np.random.default_rng(3).uniform(0, 8, 200)))
    first = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.05, validation_fraction=0.25), seed=5)
    again = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.05, validation_fraction=0.25), seed=5)
    assert first.split[[0, 1, 2, 7]].tolist() == ["train", "val", "train", "val"]
    assert sorted(first.split[3:7].tolist()) == ["train", "train", "train", "val"]
    assert np.array_equal(first.split, again.split)


def test_heldout_fraction_is_deterministic_by_seed(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    for times in poisson_trains(np.random.default_rng(4), 20, 5.0):
        nwbfile.add_unit(spike_times=times)
    settings = DataConfig(bin_width_s=0.1, heldout_fraction=0.25)
    seeds = [_extract(nwbfile, tmp_path, settings, seed=s).held_out for s in (0, 0, 1)]
    assert seeds[0].sum() == 5 and np.array_equal(seeds[0], seeds[1]) and not np.array_equal(seeds[0], seeds[2])


def test_heldout_column_is_used_when_it_holds_out_any_unit(tmp_path: Path) -> None:
    trains = poisson_trains(np.random.default_rng(7), 8, 5.0)
    chosen = []
    for column in ([False] * 8, [True, False] * 4):
        nwbfile = empty_nwbfile()
        nwbfile.add_unit_column(name="heldout", description="NLB held-out units")
        for times, held in zip(trains, column):
            nwbfile.add_unit(spike_times=times, heldout=held)
        chosen.append(_extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.1, heldout_fraction=0.25)).held_out)
    assert chosen[0].sum() == 2  # an all-False column chooses nothing: the fraction applies
    assert np.array_equal(chosen[1], [True, False] * 4)


def test_units_where_selects_rows_and_their_ids(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.add_unit_column(name="quality", description="curation")
    trains = poisson_trains(np.random.default_rng(5), 4, 5.0)
    for times, quality in zip(trains, ["good", "mua", "good", "noise"]):
        nwbfile.add_unit(spike_times=times, quality=quality)
    data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.1, units_where="quality == 'good'"))
    assert np.array_equal(data.channel_ids, [0, 2])
    start = data.window_intervals_s[0, 0]
    expected = np.histogram(trains[2], bins=start + np.arange(11) * 0.1)[0]
    assert np.array_equal(data.values[0, :, 1], expected)


def test_a_unit_without_spikes_is_kept_as_zeros(tmp_path: Path) -> None:
    nwbfile = empty_nwbfile()
    nwbfile.add_trial(start_time=0.0, stop_time=1.0)
    nwbfile.add_trial(start_time=1.0, stop_time=2.0)
    nwbfile.add_unit(spike_times=[0.05, 0.5, 1.5])
    nwbfile.add_unit(spike_times=[])
    data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.5))
    assert data.values[:, :, 1].sum() == 0 and data.values[:, :, 0].sum() == 3 and data.mask.all()


def test_inputs_and_targets_are_bin_means_of_behaviour(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    nwbfile = empty_nwbfile()
    for times in poisson_trains(rng, 3, 4.0):
        nwbfile.add_unit(spike_times=times, obs_intervals=[[0.0, 4.0]])
    position = rng.normal(size=(4000, 2))
    path = add_position(nwbfile, position, 1000.0)
    settings = DataConfig(bin_width_s=0.02, window_length_s=0.5, inputs=[path], targets=[path], zscore=False)
    data = _extract(nwbfile, tmp_path, settings)
    expected = position.reshape(8, 25, 20, 2).mean(axis=2)
    assert data.targets.shape == (8, 25, 2) and np.allclose(data.targets, expected, atol=1e-6)
    assert np.allclose(data.inputs, expected, atol=1e-6) and data.input_names == data.target_names == [path]


def test_named_intervals_give_the_windows_for_a_file_without_trials(shared_dir: Path) -> None:
    source = shared_dir / "data" / "dandi000207_sub4_ses4" / "sub-4_ses-4_ecephys+image.nwb"
    with NWBHDF5IO(str(source), mode="r", load_namespaces=True) as io:
        nwbfile = io.read()
        starts = np.asarray(nwbfile.intervals["encoding_table"]["start_time"][:])
        stops = np.asarray(nwbfile.intervals["encoding_table"]["stop_time"][:])
        data = extract_neural_data(nwbfile, DataConfig(bin_width_s=0.1, intervals="encoding_table"), 0, source.name)
    assert data.session.trials_source == "encoding_table" and "stimCategory" in data.session.trials
    assert np.array_equal(data.trial_ids, np.arange(90)) and np.allclose(data.window_intervals_s[:, 0], starts)
    # rows of unequal length each keep their own length; the longest sets T and the others are padded, unobserved
    assert data.num_bins == int(np.floor(np.max(stops - starts) / 0.1 + 1e-9)) and data.num_channels == 35
    assert np.array_equal(data.bins_of_data, np.floor((stops - starts) / 0.1 + 1e-9).astype(int))
    assert not data.mask[~data.in_window].any()


def test_unsorted_spike_times_are_counted_like_sorted_ones(tmp_path: Path) -> None:
    times = np.random.default_rng(8).uniform(0, 2, size=300)  # deliberately not sorted
    nwbfile = empty_nwbfile()
    nwbfile.add_trial(start_time=0.0, stop_time=1.0)
    nwbfile.add_trial(start_time=1.0, stop_time=2.0)
    nwbfile.add_unit(spike_times=times)
    data = _extract(nwbfile, tmp_path, DataConfig(bin_width_s=0.1))
    expected = [np.histogram(times, bins=start + np.arange(12) * 0.1)[0][:10] for start in (0.0, 1.0)]
    assert np.array_equal(data.values[:, :, 0], np.stack(expected))
