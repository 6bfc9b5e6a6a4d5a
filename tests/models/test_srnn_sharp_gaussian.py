"""A Gaussian SRNN on a nearly noise-free signal (the switching-model paper's own Lorenz setting) must train.

With the emission noise at 1 % of the signal every bin adds ~10⁴ to each state's log-likelihood; the initial-stage
label penalty's gradient then came out wrong in float32 and this fit diverged (held-in R² −52 after 60 steps).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nwb_dyn
from nwb_dyn.simulate import simulate_switching_lorenz, write_signal_session


def test_srnn_learns_a_nearly_noise_free_signal(tmp_path: Path) -> None:
    truth = simulate_switching_lorenz(num_trials=16, num_steps=200, seed=3)
    noise = 0.01 * np.random.default_rng(3).standard_normal(truth.latents.shape)
    source = write_signal_session(
        tmp_path / "lorenz.nwb", (truth.latents + noise).astype(np.float32), 0.02, "xyz"
    )
    outcome = nwb_dyn.fit(
        str(source),
        model="srnn",
        out=tmp_path / "out",
        series="acquisition/xyz",
        bin_width=0.02,
        states=2,
        max_steps=60,
    )
    quality = outcome.fits[0].summary["quality"]
    assert quality["heldin_r2"] > 0.9, quality
