"""Low-rank RNN + variational SMC training speed and peak memory, against the authors' reference numbers.

Configurations (each in a fresh subprocess, so ru_maxrss — the whole process, torch included — is its own):

* ``tutorial``: the authors' continuous tutorial exactly — ../shared/data/smc_rnns_tutorial/continuous_data.npy,
  20 units = 20 channels (one-to-one readout from the currents, frozen gain 1 / offset 0), rank 2, ReLU, decay 0.9,
  noise stds 0.1 (full Σ_z, Σ_1), optimal proposal, K = 64, B = 16, 150 training trials (10 steps per epoch),
  RAdam lr 1e-3 decaying to 1e-5 over the run. Reports s/epoch and the training ll per epoch (nats per step,
  the authors' printed "ll"). Authors, one torch thread: 4.2 s/epoch; ll −88.9 after epoch 1, ≈ −80 by epoch 5.
* ``poisson``: the authors' spiking-tutorial shape — 40 units, Poisson (softplus) one-to-one readout, encoder
  proposal (CNN (21, 11, 1)/(64, 64)), K = 64, B = 10, T = 100, 40 steps per epoch, data simulated from the shared
  Poisson teacher. Authors: 17 s/epoch.
* ``step``: one optimiser step at (N, R, K, B, T) on Gaussian data with D = 64 channels (affine readout, optimal
  proposal, clipped ReLU, as for EEG). Authors at N = 512, R = 3, K = 256, B = 16, T = 75: 5.4 s/step, 7.2 GB.

    python benchmarks/lowrank_speed.py                    # everything, one torch thread
    python benchmarks/lowrank_speed.py --only tutorial --epochs 5

The ``authors_*`` fields are the figures the issue quotes. Measured side by side on the 2-core CI-class machine
(one thread each; the authors' code run from their repository, not part of nwb-dyn):

    configuration                       nwb-dyn                 authors' code        ratio
    tutorial (s/epoch)                  0.33–0.37               2.9 (2.56 earlier)   7–9×
    poisson (s/epoch)                   1.51–1.62               9.2 (10.4–11.15 on   5.7–6.1×
                                        (torch loop: 2.5–2.7)   earlier days)
    step N=512, K=256, B=16, T=75 (s)   0.61, 0.40 GB           3.47, 3.6 GB         5.7×
    step N=512, K=64, B=64, T=100 (s)   0.75                    4.1                  5.4×

The Poisson row uses the compiled particle loop (nwb_dyn.native; ``NWB_DYN_NATIVE=0`` gives the torch loop's row).
Training ll per epoch: −96.28 (tutorial), −68.868, −68.381, −68.290 (Poisson, compiled; −68.869, −68.408 with the
torch loop, whose float32 exp and log differ in the last bits).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
STEP_GRID = [  # (units N, rank R, particles K, batch B, steps T)
    (512, 3, 64, 64, 100),
    (512, 3, 256, 16, 75),
    (128, 3, 64, 64, 100),
    (2048, 3, 64, 16, 100),
]


def _epoch_loop(module_step, batches, epochs: int, optimiser, scheduler) -> list[dict]:
    rows = []
    for epoch in range(epochs):
        wall, cpu = time.perf_counter(), time.process_time()
        lls = [module_step(batch) for batch in batches(epoch)]
        rows.append(
            {
                "epoch": epoch + 1,
                "seconds": round(time.perf_counter() - wall, 3),
                "cpu_seconds": round(time.process_time() - cpu, 3),
                "ll": round(sum(lls) / len(lls), 3),
            }
        )
        scheduler.step()
    return rows


def _trainer(model, parameters, proposal: str, particles: int, epochs: int, encoder=None):
    import torch

    from nwb_dyn.inference.smc import run_smc

    optimiser = torch.optim.RAdam(parameters, lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimiser, (1e-5 / 1e-3) ** (1 / epochs))

    def step(batch: torch.Tensor) -> float:
        mask = torch.ones_like(batch)
        output = None if encoder is None else encoder(batch)
        result = run_smc(model, batch, mask, particles, proposal=proposal, encoder_output=output)
        loss = -(result.log_marginal / batch.shape[1]).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return -loss.item()

    return step, optimiser, scheduler


def run_tutorial(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from nwb_dyn.models.lowrank import LowRankRNN

    torch.manual_seed(args.seed)
    data = np.load(SHARED / "smc_rnns_tutorial" / "continuous_data.npy")  # (trials, units, time)
    rng = np.random.default_rng(args.seed)
    train = torch.as_tensor(data[rng.choice(200, size=150, replace=False)]).transpose(1, 2).contiguous()
    model = LowRankRNN(
        rank=2, num_units=20, num_channels=20, likelihood="gaussian", activation="relu", decay_init=0.9,
        transition_noise_std_init=0.1, initial_noise_std_init=0.1, noise_covariance="full", readout="one_to_one",
        train_readout=False, observation_noise_std_init=0.1,
    )
    step, optimiser, scheduler = _trainer(model, model.parameters(), "optimal", 64, args.epochs)

    def batches(epoch: int):
        order = torch.randperm(150, generator=torch.Generator().manual_seed(args.seed + epoch))
        return [train[order[i : i + 16]] for i in range(0, 150, 16)]

    epochs = _epoch_loop(step, batches, args.epochs, optimiser, scheduler)
    return {"config": "tutorial", "N": 20, "R": 2, "K": 64, "B": 16, "T": 75, "steps_per_epoch": 10,
            "proposal": "optimal", "epochs": epochs, "authors_seconds_per_epoch": 4.2,
            "authors_ll": {"epoch1": -88.9, "epoch5": -80}}


def run_poisson(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from nwb_dyn.models.encoders import CNNEncoder
    from nwb_dyn.models.lowrank import LowRankRNN
    from nwb_dyn.native.particle_loop import native_loop_available

    torch.manual_seed(args.seed)
    teacher = np.load(SHARED / "teacher_rnns" / "osc_rnn_poisson_N40_rank2.npz")
    counts = _poisson_teacher_counts(teacher, trials=400, steps=100, seed=args.seed)
    model = LowRankRNN(
        rank=2, num_units=40, num_channels=40, likelihood="poisson", activation="relu", decay_init=0.9,
        initial_noise_std_init=0.1, noise_covariance="diag", readout="one_to_one",
    )
    encoder = CNNEncoder(40, 2, (21, 11, 1), (64, 64), padding="acausal", init_scale=0.1)
    parameters = list(model.parameters()) + list(encoder.parameters())
    step, optimiser, scheduler = _trainer(model, parameters, "encoder", 64, args.epochs, encoder=encoder)

    def batches(epoch: int):
        order = torch.randperm(400, generator=torch.Generator().manual_seed(args.seed + epoch))
        return [counts[order[i : i + 10]] for i in range(0, 400, 10)]

    epochs = _epoch_loop(step, batches, args.epochs, optimiser, scheduler)
    return {"config": "poisson", "N": 40, "R": 2, "K": 64, "B": 10, "T": 100, "steps_per_epoch": 40,
            "proposal": "encoder", "compiled_loop": native_loop_available(torch.float32, torch.device("cpu")),
            "epochs": epochs, "authors_seconds_per_epoch": 17.0}


def _poisson_teacher_counts(teacher, trials: int, steps: int, seed: int):
    """Spike counts (trials, steps, 40) from the shared Poisson teacher: y ~ Poisson(softplus(4·x − 3))."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    m, n, bias = teacher["m"], teacher["n"] / teacher["m"].shape[0], teacher["b_rec"]
    latent = rng.normal(size=(trials, 2)) * 2.0
    rates = []
    for _ in range(steps):
        currents = latent @ m.T
        rates.append(np.log1p(np.exp(4 * currents - 3)))
        latent = 0.9 * latent + 0.1 * np.maximum(currents + bias, 0) @ n.T + 0.05 * rng.normal(size=latent.shape)
    return torch.as_tensor(rng.poisson(np.stack(rates, axis=1)), dtype=torch.float32)


def run_step(units: int, rank: int, particles: int, batch: int, steps: int, args: argparse.Namespace) -> dict:
    import torch

    from nwb_dyn.models.lowrank import LowRankRNN

    torch.manual_seed(args.seed)
    model = LowRankRNN(rank=rank, num_units=units, num_channels=64, likelihood="gaussian", noise_covariance="full")
    data = torch.randn(batch, steps, 64)
    step, _, _ = _trainer(model, model.parameters(), "optimal", particles, 1)
    step(data)  # warm-up
    times, cpu_times = [], []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        step(data)
        times.append(time.perf_counter() - wall)
        cpu_times.append(time.process_time() - cpu)
    return {"config": "step", "N": units, "R": rank, "K": particles, "B": batch, "T": steps, "proposal": "optimal",
            "seconds_per_step": round(min(times), 3), "seconds_per_step_all": [round(t, 3) for t in times],
            "cpu_seconds_per_step": round(min(cpu_times), 3),
            "authors_seconds_per_step": 5.4 if (units, rank, particles, batch, steps) == (512, 3, 256, 16, 75) else None,
            "authors_peak_gb": 7.2 if (units, rank, particles, batch, steps) == (512, 3, 256, 16, 75) else None}


def _child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.only == "tutorial":
        row = run_tutorial(args)
    elif args.only == "poisson":
        row = run_poisson(args)
    else:
        row = run_step(*json.loads(args.grid_point), args)
    row["torch_threads"] = args.threads
    row["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["tutorial", "poisson", "step"], help="run one kind of configuration")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed optimiser steps per grid point")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (authors' numbers: 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--grid-point", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    jobs = []
    if args.only in (None, "tutorial"):
        jobs.append(["--only", "tutorial"])
    if args.only in (None, "poisson"):
        jobs.append(["--only", "poisson"])
    if args.only in (None, "step"):
        jobs += [["--only", "step", "--grid-point", json.dumps(point)] for point in STEP_GRID]
    common = ["--epochs", str(args.epochs), "--repeats", str(args.repeats), "--threads", str(args.threads),
              "--seed", str(args.seed), "--child"]
    for job in jobs:  # one at a time: never several CPU-hungry processes at once
        subprocess.run([sys.executable, __file__, *job, *common], check=True)


if __name__ == "__main__":
    main()
