"""Training throughput (windows per second) of the low-rank RNN under Lightning DDP: 1 vs 2 CPU processes, and,
where GPUs are present, 1 GPU against the CPU and 2 GPUs with DDP.

Each configuration runs in a fresh subprocess through our own Trainer factory (seeded shard sampler, callbacks,
checkpoints) with Lightning's ``ddp`` launcher, which re-executes this script per rank (hence the ``__main__``
guard). Throughput is timed on rank 0 from the start of the second epoch to the end of training, so process start,
imports and the first epoch's warm-up are excluded. Prints one JSON object per configuration on stdout.

    python benchmarks/ddp_scaling.py                       # CPU 1 vs 2 processes (+ GPU configs if available)
    python benchmarks/ddp_scaling.py --windows 128 --epochs 3
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _configurations(gpus: int) -> list[tuple[str, int, str]]:
    configs = [("cpu", 1, "auto"), ("cpu", 2, "ddp")]
    if gpus >= 1:
        configs.append(("gpu", 1, "auto"))
    if gpus >= 2:
        configs.append(("gpu", 2, "ddp"))
    return configs


def _synthetic_data(args: argparse.Namespace):  # -> NeuralData
    import numpy as np

    from nwb_dyn.extract import NeuralData
    from nwb_dyn.extract.session import SessionInfo

    rng = np.random.default_rng(0)
    shape = (args.windows, args.bins, args.channels)
    counts = rng.poisson(0.5, size=shape).astype(np.float32)
    starts = 2.0 * np.arange(args.windows)
    split = np.array(["train"] * args.windows, dtype=object)
    split[-max(2, args.windows // 8) :] = "val"
    return NeuralData(
        values=counts,
        mask=np.ones(shape, dtype=bool),
        bin_start_s=starts[:, None] + 0.02 * np.arange(args.bins)[None, :],
        bin_width_s=0.02,
        trial_ids=np.arange(args.windows),
        window_intervals_s=np.stack([starts, starts + 0.02 * args.bins], axis=1),
        channel_ids=np.arange(args.channels),
        observation="counts",
        data_path="units",
        split=split,
        held_out=np.zeros(args.channels, dtype=bool),
        session=SessionInfo(
            identifier="benchmark",
            session_description="synthetic Poisson counts",
            session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        ),
    )


def run_one(args: argparse.Namespace) -> None:
    """Fit one configuration; rank 0 prints its JSON line."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import Callback

    from nwb_dyn.config import resolve_config
    from nwb_dyn.data import NeuralDataModule
    from nwb_dyn.training.families import FAMILIES
    from nwb_dyn.training.trainer import make_trainer

    class Stopwatch(Callback):
        started: float | None = None
        stopped: float | None = None

        def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            if trainer.current_epoch == 1:
                self.started = time.perf_counter()

        def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            self.stopped = time.perf_counter()

    config = resolve_config(
        None,
        {
            "seed": 0,
            "data.batch_size": args.batch_size,
            "lowrank.units": args.units,
            "lowrank.particles": args.particles,
            "trainer.max_epochs": args.epochs,
            "trainer.patience_steps": 10**9,  # a fixed number of epochs: never stop at convergence
            "trainer.accelerator": args.accelerator,
            "trainer.devices": args.devices,
            "trainer.strategy": args.strategy,
            "trainer.num_threads": args.threads,
            "trainer.progress_bar": "off",
        },
    )
    data = _synthetic_data(args)
    pl.seed_everything(0, verbose=False)
    module = FAMILIES["lowrank"].build(config, data)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = make_trainer(config, Path(run_dir))
        stopwatch = Stopwatch()
        trainer.callbacks.append(stopwatch)
        trainer.fit(module, datamodule=NeuralDataModule(data, config.data.batch_size, config.seed))
        if not trainer.is_global_zero or stopwatch.started is None or stopwatch.stopped is None:
            return
        import torch

        seconds = stopwatch.stopped - stopwatch.started
        train_windows = int((data.split == "train").sum())
        print(
            json.dumps(
                {
                    "benchmark": "ddp_scaling",
                    "accelerator": args.accelerator,
                    "devices": args.devices,
                    "strategy": args.strategy,
                    "device_name": torch.cuda.get_device_name(0) if args.accelerator == "gpu" else "cpu",
                    "torch_threads": torch.get_num_threads(),
                    "windows": args.windows,
                    "bins": args.bins,
                    "channels": args.channels,
                    "units": args.units,
                    "particles": args.particles,
                    "global_batch": args.batch_size,
                    "timed_epochs": args.epochs - 1,
                    "seconds": round(seconds, 3),
                    "windows_per_s": round(train_windows * (args.epochs - 1) / seconds, 2),
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", action="store_true", help="run the single configuration given (internal)")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--windows", type=int, default=256, help="windows (trials); 1/8 go to validation")
    parser.add_argument("--bins", type=int, default=50)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--particles", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch (split across DDP ranks)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs; the first is warm-up and not timed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    args = parser.parse_args()
    if args.one:
        run_one(args)
        return
    import torch

    shared = [
        f"--windows={args.windows}", f"--bins={args.bins}", f"--channels={args.channels}", f"--units={args.units}",
        f"--particles={args.particles}", f"--batch-size={args.batch_size}", f"--epochs={args.epochs}",
        f"--threads={args.threads}",
    ]
    for accelerator, devices, strategy in _configurations(torch.cuda.device_count()):
        print(f"running {accelerator} × {devices} ({strategy}) ...", file=sys.stderr)
        command = [sys.executable, __file__, "--one", f"--accelerator={accelerator}", f"--devices={devices}",
                   f"--strategy={strategy}", *shared]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0 or not lines:
            print(result.stderr[-2000:], file=sys.stderr)
            print(json.dumps({"benchmark": "ddp_scaling", "accelerator": accelerator, "devices": devices,
                              "strategy": strategy, "error": f"exit {result.returncode}"}), flush=True)
            continue
        print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
