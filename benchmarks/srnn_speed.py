"""SRNN training speed and peak memory: seconds per full-batch epoch over (B, T, K, latent size).

One epoch = one full-batch optimiser step (encoder → latent sample → collapsed likelihood → backward → Adam), as in
the authors' code, whose reference numbers with one torch thread are 1.93 s/epoch on the Lorenz demo (B = 15, T = 200,
K = 2, latent 3) and 90 s/epoch with 1.9 GB at T = 800, K = 5, B = 64.

Each configuration runs in a fresh subprocess so that its peak resident memory (ru_maxrss, the whole process,
torch included) is its own. Prints one JSON object per configuration on stdout.

    python benchmarks/srnn_speed.py                 # default grid, one CPU thread
    python benchmarks/srnn_speed.py --device cuda   # same grid on a GPU (peak = torch.cuda.max_memory_allocated)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

# (batch, time, states, latent_dim): the authors' two reference configurations first, then a wider grid
DEFAULT_GRID = [
    (15, 200, 2, 3),
    (64, 800, 5, 3),
    (64, 800, 5, 16),
    (16, 200, 5, 8),
    (64, 200, 2, 3),
    (64, 400, 3, 8),
    (128, 800, 8, 16),
]


def run_one(batch: int, time_steps: int, states: int, latent_dim: int, args: argparse.Namespace) -> dict:
    import torch

    from nwb_dyn.inference.srnn_elbo import srnn_objective
    from nwb_dyn.models.inference_network import BidirectionalEncoder
    from nwb_dyn.models.srnn import SwitchingRNN

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    channels = args.channels
    model = SwitchingRNN(states, latent_dim, channels).to(device)
    encoder = BidirectionalEncoder(channels, latent_dim, args.encoder_hidden).to(device)
    observations = model.generate(batch, time_steps, generator=torch.Generator(device=device).manual_seed(0))
    observations = observations.observations
    labels = torch.randint(states, (batch, time_steps), device=device) if args.labels else None
    parameters = [*model.parameters(), *encoder.parameters()]
    optimiser = torch.optim.Adam(parameters, lr=1e-3)

    def epoch() -> None:
        terms = srnn_objective(model, encoder, observations, labels=labels)
        loss = -(terms.elbo.sum() - 0.5 * terms.label_cross_entropy.sum()) / (batch * time_steps)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    def synchronise() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        epoch()
    synchronise()
    durations, cpu_durations = [], []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        epoch()
        synchronise()
        durations.append(time.perf_counter() - start)
        cpu_durations.append(time.process_time() - cpu_start)
    durations.sort()
    cpu_durations.sort()
    result = {
        "benchmark": "srnn_speed",
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "threads": args.threads,
        "batch": batch,
        "time_steps": time_steps,
        "states": states,
        "latent_dim": latent_dim,
        "channels": channels,
        "encoder_hidden": args.encoder_hidden,
        "label_penalty": args.labels,
        "seconds_per_epoch_median": durations[len(durations) // 2],
        "seconds_per_epoch_min": durations[0],
        # CPU time of this process: on a shared machine it tracks the work done, wall time also the waiting
        "cpu_seconds_per_epoch_median": cpu_durations[len(cpu_durations) // 2],
        "repeats": args.repeats,
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        result["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=int, nargs=4, metavar=("B", "T", "K", "P"), help="run only this one")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--channels", type=int, default=3, help="observed channels D")
    parser.add_argument("--encoder-hidden", type=int, default=32)
    parser.add_argument("--labels", action="store_true", help="time the initialisation phase (label penalty)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.config is not None:
        print(json.dumps(run_one(*args.config, args)), flush=True)
        return
    for batch, time_steps, states, latent_dim in DEFAULT_GRID:
        command = [
            sys.executable,
            __file__,
            "--config",
            str(batch),
            str(time_steps),
            str(states),
            str(latent_dim),
        ]
        subprocess.run([*command, *sys.argv[1:]], check=True)


if __name__ == "__main__":
    main()
