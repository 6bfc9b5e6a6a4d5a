"""SRNN state recovery on the simulated switching Lorenz system (the two lobes are the states).

Configurations (printed as one JSON object each):
- ``gaussian``: the paper's demo shape, 16 trials × 200 steps × 3 dimensions, observation noise std 0.01;
- ``spiking``: the same trajectories through a Poisson readout of 30 units (``poisson_spikes_from_latents``).
Accuracy is the fraction of time steps whose Viterbi state equals the true lobe after Hungarian label matching,
on the 16 fitted trials and on 16 held-out trials simulated with another seed (no labels reach those).
The schedule is fixed in advance (label phase then plain ELBO, as in the paper), not tuned on the accuracy.

    python benchmarks/srnn_lorenz.py [--only gaussian|spiking] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from nwb_dyn.analysis.metrics.states import match_states
from nwb_dyn.inference.srnn_elbo import FullBatchSchedule, fit_full_batch, infer_posterior
from nwb_dyn.models.inference_network import BidirectionalEncoder
from nwb_dyn.models.srnn import SwitchingRNN
from nwb_dyn.models.srnn_init import initial_state_labels
from nwb_dyn.simulate import simulate_switching_lorenz
from nwb_dyn.simulate.nwb_session import poisson_spikes_from_latents


@dataclass
class LorenzConfig:
    name: str
    emission: str
    dt: float = 0.02
    num_trials: int = 16
    num_steps: int = 200
    observation_noise_std: float = 0.01
    num_units: int = 30
    bin_width_s: float = 0.01
    mean_rate_hz: float = 20.0
    latent_dim: int = 3
    encoder_hidden: int = 32
    init: str = "hmm"
    init_smoothing_bins: float = 0.0
    label_epochs: int = 300
    epochs: int = 150
    learning_rate: float = 1e-2


CONFIGS = {
    "gaussian": LorenzConfig("gaussian", "gaussian"),
    "spiking": LorenzConfig(
        "spiking", "poisson", mean_rate_hz=50.0, bin_width_s=0.02, init_smoothing_bins=3.0, encoder_hidden=64
    ),
    # the README demo's session (examples/demo.py): sparser, 0.2 spikes per unit and bin
    "spiking_demo": LorenzConfig(
        "spiking_demo", "poisson", dt=0.01, init_smoothing_bins=10.0, encoder_hidden=64
    ),
}


def simulate(config: LorenzConfig, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Observations (2B, T, D) and true lobes (2B, T): the first B trials are fitted, the last B held out.

    Both halves come from one call, so the spiking halves share one random Poisson readout.
    """
    truth = simulate_switching_lorenz(2 * config.num_trials, config.num_steps, dt=config.dt, seed=seed)
    if config.emission == "poisson":
        counts, _ = poisson_spikes_from_latents(
            truth.latents, config.num_units, config.bin_width_s, config.mean_rate_hz, seed=seed
        )
        return torch.tensor(counts, dtype=torch.float32), truth.states
    noise = config.observation_noise_std * np.random.default_rng(seed).normal(size=truth.latents.shape)
    return torch.tensor(truth.latents + noise, dtype=torch.float32), truth.states


def run(config: LorenzConfig, seed: int) -> dict:
    torch.manual_seed(seed)
    all_observations, all_states = simulate(config, seed=1 + seed)
    observations, held_out_observations = all_observations.split(config.num_trials)
    states, held_out_states = all_states[: config.num_trials], all_states[config.num_trials :]
    channels = observations.shape[-1]
    model = SwitchingRNN(2, config.latent_dim, channels, emission=config.emission)
    encoder = BidirectionalEncoder(
        channels,
        config.latent_dim,
        config.encoder_hidden,
        log_transform_observations=config.emission == "poisson",
    )
    labels = initial_state_labels(
        observations, 2, config.init, seed=seed, smoothing_bins=config.init_smoothing_bins
    )
    schedule = FullBatchSchedule(config.label_epochs, config.epochs, config.learning_rate)
    start = time.perf_counter()
    history = fit_full_batch(model, encoder, observations, schedule, labels=labels)
    seconds = time.perf_counter() - start
    fitted = match_states(states, infer_posterior(model, encoder, observations).map_states.numpy())
    held_out = match_states(
        held_out_states, infer_posterior(model, encoder, held_out_observations).map_states.numpy()
    )
    return {
        "benchmark": "srnn_lorenz",
        **asdict(config),
        "seed": seed,
        "init_label_accuracy": match_states(states, labels.numpy()).accuracy,
        "accuracy_fitted_trials": fitted.accuracy,
        "balanced_accuracy_fitted_trials": fitted.balanced_accuracy,
        "accuracy_held_out_trials": held_out.accuracy,
        "final_elbo_per_step": history[-1],
        "fit_seconds": seconds,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=sorted(CONFIGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name, config in CONFIGS.items():
        if args.only in (None, name):
            for seed in args.seeds:
                print(json.dumps(run(config, seed)), flush=True)


if __name__ == "__main__":
    main()
