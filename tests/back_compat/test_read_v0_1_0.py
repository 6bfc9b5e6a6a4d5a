"""A result written by ndx-dyn 0.1.0 (checked in; see make_v0_1_0_file.py) stays readable and rebuildable."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from nwb_dyn.results import read
from tests.back_compat.make_v0_1_0_file import NUM_BINS, NUM_CHANNELS, NUM_WINDOWS, SEED

FILE = Path(__file__).resolve().parent / "ndx-dyn-0.1.0_result.nwb"


def test_file_was_written_by_namespace_version_0_1_0() -> None:
    with h5py.File(FILE, "r") as handle:
        assert list(handle["specifications/ndx-dyn"]) == ["0.1.0"]


def test_arrays_read_back_as_written() -> None:
    result = read(FILE)
    # the writer's windows were listed in reverse time order; files store them in time order
    bins = np.arange(NUM_WINDOWS * NUM_BINS).reshape(NUM_WINDOWS, NUM_BINS)[::-1].ravel()
    np.testing.assert_allclose(result.latents, np.stack([bins, -bins], axis=1) / 10.0, rtol=1e-6)
    np.testing.assert_allclose(
        result.rates, np.repeat(bins[:, None], NUM_CHANNELS, axis=1) / 100.0 + 0.01, rtol=1e-6
    )
    np.testing.assert_array_equal(result.states, (bins // 4) % 3)
    assert result.held_out is None  # written before ndx-dyn 0.3.0 recorded held-out units
    np.testing.assert_array_equal(result.state_probabilities, np.eye(3)[(bins // 4) % 3])
    assert len(result.timestamps) == NUM_WINDOWS * NUM_BINS and np.all(np.diff(result.timestamps) > 0)
    fixed_points = result.fixed_points
    np.testing.assert_array_equal(fixed_points.eigenvalues, [[0.5 + 0.25j, 0.5 - 0.25j], [1.5, 0.1]])
    np.testing.assert_array_equal(fixed_points.stable, [True, False])
    assert result.provenance["seed"] == SEED and result.provenance["source"]["kind"] == "local"


def test_model_rebuilds_and_regenerates_the_stored_samples() -> None:
    result = read(FILE)
    for name, weight in result.model.state_dict().items():
        np.testing.assert_allclose(
            weight.numpy().ravel(), 0.01 * np.arange(weight.numel()), rtol=1e-6, err_msg=name
        )
    latents, observations = result.model.generate(2, NUM_BINS, generator=torch.Generator().manual_seed(SEED))
    np.testing.assert_array_equal(latents.numpy(), result.samples.latents)
    np.testing.assert_array_equal(observations.numpy(), result.samples.observations)
