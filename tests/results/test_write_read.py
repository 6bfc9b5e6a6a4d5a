"""write_result → results.read: every product comes back equal, on the session clock, in a clean NWB file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_dyn.analysis.products import FixedPointSet, ModelProducts
from nwb_dyn.errors import OutputError
from nwb_dyn.extract import NeuralData
from nwb_dyn.results import read, write_result
from nwb_dyn.results.session_copy import finest_spike_spacing_s
from nwb_dyn.testing import mock_fit_record, mock_model_products, mock_neural_data
from tests.helpers import empty_nwbfile, write_nwb
from tests.nwb_checks import assert_output_clean


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, NeuralData, ModelProducts]:
    data = mock_neural_data()
    data.held_out[1] = True  # one unit held out (co-smoothing): the result must say which
    products = mock_model_products(data)
    path = write_result(
        tmp_path_factory.mktemp("result") / "sub-M1_ses-mock_desc-lowrank_ecephys.nwb",
        data,
        products,
        mock_fit_record(),
    )
    return path, data, products


def _time_order(data: NeuralData) -> np.ndarray:
    return np.argsort(data.window_intervals_s[:, 0])


def test_output_is_valid_and_nwbinspector_clean(written: tuple[Path, NeuralData, ModelProducts]) -> None:
    assert_output_clean(written[0])


def test_latents_rates_and_timestamps_come_back_time_ordered(written) -> None:
    path, data, products = written
    result = read(path)
    order = _time_order(data)  # the mock lists windows in reverse time order
    np.testing.assert_allclose(result.per_window(result.latents), products.latents[order], rtol=1e-6)
    np.testing.assert_allclose(result.per_window(result.rates), products.rates[order], rtol=1e-6)
    np.testing.assert_allclose(result.timestamps, (data.bin_start_s[order] + data.bin_width_s / 2).ravel())
    np.testing.assert_array_equal(result.channel_ids, data.channel_ids)
    assert result.held_out is not None and result.held_out.tolist() == data.held_out.tolist()
    assert result.held_out.any() and not result.held_out.all()
    np.testing.assert_array_equal(result.windows.trial, data.trial_ids[order])
    assert result.latent_estimate == "smoothed"


def test_states_probabilities_and_segments(written) -> None:
    path, data, products = written
    result = read(path)
    order = _time_order(data)
    np.testing.assert_array_equal(result.per_window(result.states), products.states[order])
    np.testing.assert_allclose(
        result.per_window(result.state_probabilities), products.state_probabilities[order], rtol=1e-6
    )
    assert result.num_states == 3
    # brute force: expand every segment back into bins and compare with the state path
    segments = result.segments
    rebuilt = np.full(result.states.shape, -1)
    for start, stop, state in zip(segments.start_s, segments.stop_s, segments.state):
        rebuilt[(result.timestamps > start) & (result.timestamps < stop)] = state
    np.testing.assert_array_equal(rebuilt, result.states)
    assert np.all(segments.stop_s > segments.start_s)
    assert set(segments.trial) == set(data.trial_ids)


def test_fixed_points_keep_complex_eigenvalues(written) -> None:
    path, _, products = written
    fixed_points = read(path).fixed_points
    expected = products.fixed_points
    np.testing.assert_array_equal(fixed_points.location, expected.location)
    np.testing.assert_array_equal(fixed_points.eigenvalues, expected.eigenvalues)
    np.testing.assert_array_equal(fixed_points.stable, expected.stable)
    np.testing.assert_array_equal(fixed_points.state, expected.state)
    np.testing.assert_array_equal(fixed_points.region, expected.region)
    assert (fixed_points.kind, fixed_points.eigenvalue_reading) == ("exact", "discrete")


def test_samples_model_and_provenance(written) -> None:
    path, _, products = written
    result = read(path)
    np.testing.assert_allclose(result.samples.latents, products.samples.latents, rtol=1e-6)
    np.testing.assert_array_equal(result.samples.observations, products.samples.observations)
    assert (result.samples.seed, result.samples.conditioning) == (
        products.samples.seed,
        products.samples.conditioning,
    )
    stored = result.stored_model
    assert stored.family == "lowrank" and stored.hyperparameters == products.hyperparameters
    np.testing.assert_array_equal(stored.weights["m"], products.weights["m"])
    assert stored.weights["decay_logit"].item() == pytest.approx(0.3)
    assert (
        stored.metrics == {"co_bps": 0.12, "num_fixed_points": 3} and stored.training_summary["epochs"] == 2
    )
    record = mock_fit_record()
    assert result.provenance == {
        "source": {"kind": "local", "location": record.source["location"], "sha256": record.source["sha256"]},
        "versions": record.versions,
        "config": record.config,
        "seed": 0,
        "command": record.command,
    }


def test_session_subject_trials_and_units_are_carried_over(written) -> None:
    path, data, _ = written
    with NWBHDF5IO(str(path), mode="r") as io:
        nwbfile = io.read()
        assert nwbfile.session_start_time == data.session.session_start_time
        assert (nwbfile.subject.subject_id, nwbfile.subject.age, nwbfile.subject.sex) == ("M1", "P0D/", "U")
        trials = nwbfile.trials.to_dataframe()
        np.testing.assert_array_equal(trials["start_time"], data.session.trials["start_time"])
        assert list(trials["condition"]) == list(data.session.trials["condition"])
        units = nwbfile.units
        np.testing.assert_array_equal(units.id[:], data.session.units_ids)
        for row, times in enumerate(data.session.units_spike_times):
            np.testing.assert_array_equal(units.get_unit_spike_times(row), times)
        assert units.resolution == pytest.approx(0.001) and "finest spacing" in units.description
        rates = nwbfile.processing["misc"]["rates"]
        np.testing.assert_array_equal(units.id[rates.units_region.data[:]], data.channel_ids)


def test_finest_spike_spacing_ignores_float_noise_and_duplicates() -> None:
    grid = [np.array([0.1, 0.3, 0.3]) + 1e-13, np.array([0.105, 2.0])]
    assert finest_spike_spacing_s(grid) == pytest.approx(0.005, abs=1e-12)
    assert finest_spike_spacing_s([np.array([1.0])]) is None


def test_contiguous_windows_are_written_with_a_rate(tmp_path: Path) -> None:
    data = mock_neural_data(num_windows=3, contiguous=True)
    path = write_result(
        tmp_path / "r.nwb", data, mock_model_products(data, num_states=None), mock_fit_record()
    )
    with NWBHDF5IO(str(path), mode="r") as io:
        latents = io.read().processing["misc"]["latents"]
        assert latents.timestamps is None and latents.rate == pytest.approx(1 / data.bin_width_s)
    result = read(path)
    assert result.states is None and result.segments is None and result.fixed_points.state is None
    np.testing.assert_allclose(result.timestamps, np.sort(data.bin_start_s.ravel()) + data.bin_width_s / 2)
    assert_output_clean(path)


def test_a_fit_without_fixed_points_reads_back_an_empty_set_and_stays_clean(tmp_path: Path) -> None:
    data = mock_neural_data()
    products = mock_model_products(data, num_states=None)
    products.fixed_points = FixedPointSet(
        location=np.zeros((0, 2)), stable=np.zeros(0, dtype=bool), eigenvalues=np.zeros((0, 2), dtype=complex)
    )
    path = write_result(tmp_path / "r.nwb", data, products, mock_fit_record())
    assert read(path).fixed_points.location.shape == (0, 2)
    assert_output_clean(path)
    products.fixed_points = None
    path = write_result(tmp_path / "none.nwb", data, products, mock_fit_record())
    assert read(path).fixed_points is None


def test_a_source_without_subject_gets_one_named_from_its_file_and_marked_unknown(tmp_path: Path) -> None:
    data = mock_neural_data(contiguous=True)
    data.session.subject = {}
    path = write_result(tmp_path / "r.nwb", data, mock_model_products(data), mock_fit_record())
    with NWBHDF5IO(str(path), mode="r") as io:
        subject = io.read().subject
        assert (subject.subject_id, subject.species, subject.sex, subject.age) == (
            "M1",
            "http://purl.obolibrary.org/obo/NCBITaxon_32644",
            "U",
            "P0D/",
        )
        assert (
            "sub-M1_ses-mock_ecephys.nwb" in subject.description
            and "species not recorded" in subject.description
        )
    assert_output_clean(path)


def test_read_names_the_file_when_it_is_not_a_result(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        read(tmp_path / "missing.nwb")
    (tmp_path / "text.nwb").write_text("not hdf5")
    with pytest.raises(OutputError, match="text.nwb is not a readable NWB file"):
        read(tmp_path / "text.nwb")
    plain = write_nwb(tmp_path / "plain.nwb", empty_nwbfile())
    with pytest.raises(OutputError, match="plain.nwb has no nwb-dyn result in processing module 'misc'"):
        read(plain)
