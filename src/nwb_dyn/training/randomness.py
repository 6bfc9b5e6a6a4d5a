"""Per-window random streams, so that SMC noise depends on (seed, stage, epoch, window) and not on batching.

Drawing a window's particle noise from its own generator makes an epoch's numbers independent of how windows are
grouped into batches and shared among DDP ranks: 2 ranks with half batches reproduce 1 process with the full batch,
and a run resumed from an epoch-end checkpoint replays the next epoch exactly.
"""

from __future__ import annotations

import numpy as np
import torch

#: Stream ids keep training and validation noise apart.
TRAIN_STREAM = 0
VALIDATION_STREAM = 1


def window_seed(seed: int, stream: int, epoch: int, window: int) -> int:
    """A 63-bit seed mixed from the run seed, stream, epoch and window row (numpy's SeedSequence hashing)."""
    state = np.random.SeedSequence([seed, stream, epoch, window]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def window_generators(
    seed: int, stream: int, epoch: int, windows: torch.Tensor, device: torch.device | str = "cpu"
) -> list[torch.Generator]:
    """One seeded generator per window of a batch; ``windows``: (B,) row indices into the NeuralData."""
    generators = []
    for window in windows.tolist():
        generator = torch.Generator(device=device)
        generator.manual_seed(window_seed(seed, stream, epoch, int(window)))
        generators.append(generator)
    return generators
