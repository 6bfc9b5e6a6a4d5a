"""The user path stays honest: default fits beat the field's baselines, run side by side in the same test.

Every fit goes through ``nwb_dyn.fit`` with default training options; only data options (bin width, alignment,
window, held-out fraction, number of states) are given. The baselines come from ``benchmarks/baselines.py`` (spike
smoothing + Poisson GLM as in NLB, a Poisson HMM) on exactly the same windows and split. These are CI-sized
versions of ``benchmarks/validity.py`` (a) and (b); the benchmark reports the full spread over splits and seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO

import nwb_dyn
from nwb_dyn.api import OPTION_KEYS
from nwb_dyn.config import resolve_config
from nwb_dyn.extract import extract_neural_data
from nwb_dyn.results import read
from nwb_dyn.simulate import simulate_switching_linear, write_spiking_session
from nwb_dyn.simulate.nwb_session import poisson_spikes_from_latents
from tests.conftest import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import baselines  # the benchmarks' baseline code (numpy/scipy only)

BIN_WIDTH_S = 0.02


def _true_states_at(source: Path, bin_centres_s: np.ndarray) -> np.ndarray:
    """The simulated states stored in ``source`` (processing/misc/true_states) at the given bin centres."""
    with NWBHDF5IO(str(source), mode="r") as io:
        series = io.read().processing["misc"]["true_states"]
        times, values = np.asarray(series.timestamps[:]), np.asarray(series.data[:])
    rows = np.searchsorted(times, bin_centres_s - BIN_WIDTH_S / 2)  # tolerant of round-off at the centres
    return values[np.clip(rows, 0, len(times) - 1)]


def test_srnn_defaults_recover_three_switching_states_and_beat_a_poisson_hmm(tmp_path: Path) -> None:
    """A 3-state Markov-switching linear system read out by 40 Poisson units (seed 31, used by no other test)."""
    latents, states = simulate_switching_linear(3, num_trials=16, num_steps=200, seed=31)
    counts, _ = poisson_spikes_from_latents(latents, num_units=40, bin_width_s=BIN_WIDTH_S, mean_rate_hz=30.0, seed=31)
    source = write_spiking_session(tmp_path / "slds.nwb", counts, BIN_WIDTH_S, latents, states, seed=31)
    outcome = nwb_dyn.fit(str(source), model="srnn", out=tmp_path / "out", bin_width=BIN_WIDTH_S, states=3)
    result = read(outcome.outputs[0])
    found = np.asarray(result.states)
    true_states = _true_states_at(source, np.asarray(result.timestamps))
    srnn_accuracy = baselines.matched_state_accuracy(true_states, found)
    hmm = baselines.fit_poisson_hmm(counts, 3, seed=0)
    hmm_accuracy = baselines.matched_state_accuracy(states, hmm.most_likely_states(counts))
    shuffled = np.random.default_rng(0).permutation(found.reshape(16, -1))  # right occupancy, wrong trials
    assert baselines.matched_state_accuracy(true_states, shuffled.reshape(-1)) < 0.7
    assert srnn_accuracy >= 0.9, (srnn_accuracy, hmm_accuracy)
    assert srnn_accuracy >= hmm_accuracy, (srnn_accuracy, hmm_accuracy)


def test_lowrank_defaults_on_mc_maze_small_beat_spike_smoothing_on_held_out_units(
    mc_maze_small: Path, tmp_path: Path
) -> None:
    """MC_Maze_Small, 25 % of units held out, 20 % of trials evaluated (the fit's own seeded split): the default
    low-rank fit predicts held-out units better than NLB's spike smoothing + Poisson GLM on the same split."""
    options = {"bin_width": 0.02, "align": "move_onset_time", "window": [-0.25, 0.45], "heldout_fraction": 0.25}
    outcome = nwb_dyn.fit(str(mc_maze_small), model="lowrank", out=tmp_path / "out", **options)
    metrics = read(outcome.outputs[0]).stored_model.metrics
    config = resolve_config(overrides={OPTION_KEYS[key]: value for key, value in options.items()})
    with NWBHDF5IO(str(mc_maze_small), mode="r") as io:
        data = extract_neural_data(io.read(), config.data, config.seed, str(mc_maze_small))
    train, evaluation = data.split_indices("train"), data.split_indices("val")
    held_out = data.held_out
    smoothing = baselines.smoothing_glm_baseline(
        data.values[train][..., ~held_out], data.values[train][..., held_out], data.values[evaluation][..., ~held_out],
        data.bin_width_s,
    )
    smoothing_co_bps = baselines.bits_per_spike(smoothing.heldout_rates, data.values[evaluation][..., held_out])
    assert metrics["val_heldin_bps"] > 0.05, metrics  # a constant rate per unit scores 0
    assert metrics["val_co_bps"] > smoothing_co_bps, (metrics["val_co_bps"], smoothing_co_bps)

