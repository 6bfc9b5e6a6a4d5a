"""Write ``tests/back_compat/ndx-dyn-0.1.0_result.nwb``: a result file of ndx-dyn 0.1.0 that later versions must read.

Run once with the 0.1.0 extension (``python tests/back_compat/make_v0_1_0_file.py``) and check the file in; never
regenerate it with a later version. Its values are closed forms that ``test_read_v0_1_0.py`` asserts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nwb_dyn.analysis.products import FixedPointSet, GeneratedSamples, ModelProducts
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.results import write_result
from nwb_dyn.testing import mock_fit_record, mock_neural_data

OUTPUT = Path(__file__).resolve().parent / "ndx-dyn-0.1.0_result.nwb"
NUM_WINDOWS, NUM_BINS, NUM_CHANNELS, RANK, NUM_UNITS, SEED = 2, 10, 3, 2, 4, 3
HYPERPARAMETERS = {
    "rank": RANK,
    "num_units": NUM_UNITS,
    "num_channels": NUM_CHANNELS,
    "likelihood": "poisson",
    "activation": "relu",
}


def closed_form_model() -> LowRankRNN:
    """A LowRankRNN whose every parameter is ``0.01 * arange`` (reshaped), so the test can rebuild it exactly."""
    model = LowRankRNN(**HYPERPARAMETERS)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(
                0.01 * torch.arange(parameter.numel(), dtype=parameter.dtype).reshape(parameter.shape)
            )
    return model.eval()


def main() -> None:
    data = mock_neural_data(num_windows=NUM_WINDOWS, num_bins=NUM_BINS, num_channels=NUM_CHANNELS)
    shape = (NUM_WINDOWS, NUM_BINS)
    bins = np.arange(NUM_WINDOWS * NUM_BINS).reshape(shape)
    states = (bins // 4) % 3
    model = closed_form_model()
    latents, observations = model.generate(2, NUM_BINS, generator=torch.Generator().manual_seed(SEED))
    products = ModelProducts(
        family="lowrank",
        latents=np.stack([bins, -bins], axis=-1) / 10.0,
        latent_estimate="smoothed",
        rates=np.repeat(bins[..., None], NUM_CHANNELS, axis=-1) / 100.0 + 0.01,
        weights={name: value.numpy().copy() for name, value in model.state_dict().items()},
        hyperparameters=HYPERPARAMETERS,
        states=states,
        state_probabilities=np.eye(3)[states],
        samples=GeneratedSamples(latents=latents.numpy(), observations=observations.numpy(), seed=SEED),
        fixed_points=FixedPointSet(
            location=np.array([[0.0, 0.0], [1.0, -1.0]]),
            stable=np.array([True, False]),
            eigenvalues=np.array([[0.5 + 0.25j, 0.5 - 0.25j], [1.5, 0.1]]),
            region=np.array([[0, 0, 0, 0], [1, 0, 1, 0]], dtype=np.int8),
        ),
        metrics={"co_bps": 0.5},
    )
    write_result(OUTPUT, data, products, mock_fit_record(seed=SEED))
    print(OUTPUT)


if __name__ == "__main__":
    main()
