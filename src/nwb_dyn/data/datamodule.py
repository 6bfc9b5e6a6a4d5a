"""Trial/window samples of a :class:`NeuralData` as a Lightning DataModule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from nwb_dyn.extract import NeuralData


class WindowBatch(NamedTuple):
    """One batch of windows.

    values, mask: (B, T, D) float32 (mask is 1 where the likelihood scores an entry); encoder_mask: (B, T, D)
    float32, 1 where an encoder may read an entry (:attr:`NeuralData.held_in_mask`: never a held-out channel);
    index: (B,) row indices into the NeuralData; inputs: (B, T, D_u) float32 external inputs on the same bins, or
    None when the data has none; bins_of_data: (B,) int64 bins inside each window (:attr:`NeuralData.bins_of_data`,
    fewer than T for a window padded after a short trial), or None when not known.
    """

    values: torch.Tensor
    mask: torch.Tensor
    encoder_mask: torch.Tensor
    index: torch.Tensor
    inputs: torch.Tensor | None = None
    bins_of_data: torch.Tensor | None = None


class _Windows(Dataset):
    def __init__(
        self,
        values: torch.Tensor,
        mask: torch.Tensor,
        encoder_mask: torch.Tensor,
        rows: np.ndarray,
        bins_of_data: torch.Tensor,
        inputs: torch.Tensor | None = None,
    ) -> None:
        self.values = values
        self.mask = mask
        self.encoder_mask = encoder_mask
        self.bins_of_data = bins_of_data
        self.inputs = inputs
        self.rows = torch.as_tensor(rows, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, item: int) -> WindowBatch:
        row = self.rows[item]
        inputs = None if self.inputs is None else self.inputs[row]
        # masks are kept boolean (a quarter of float32's memory for a whole session) and become float per window
        return WindowBatch(
            self.values[row],
            self.mask[row].float(),
            self.encoder_mask[row].float(),
            row,
            inputs,
            self.bins_of_data[row],
        )


def _collate(items: list[WindowBatch]) -> WindowBatch:
    return WindowBatch(*(None if parts[0] is None else torch.stack(parts) for parts in zip(*items)))


class SeededShardSampler(Sampler[int]):
    """Positions 0..n−1 in an order drawn from (seed, epoch), dealt to DDP ranks like cards: rank r takes r, r+W, ...

    Lightning calls :meth:`set_epoch` before every epoch, so each epoch's order is a function of the seed and the
    epoch alone; a run resumed at an epoch boundary replays the same order. Dealing round-robin means that W ranks
    with batches of b/W together see exactly the windows that one process with batches of b sees. When n is not a
    multiple of W the order is padded with its own first positions so that every rank takes as many steps.
    """

    def __init__(self, num_items: int, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1) -> None:
        self.num_items = num_items
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the order of epoch ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return (self.num_items + self.world_size - 1) // self.world_size

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_items, generator=generator).tolist()
        else:
            order = list(range(self.num_items))
        padded = order + order[: len(self) * self.world_size - self.num_items]
        return iter(padded[self.rank :: self.world_size])


class NeuralDataModule(pl.LightningDataModule):
    """Serves the train and validation windows of an in-memory :class:`NeuralData`.

    Train and validation batches are built alike: the likelihood scores every observed entry (held-out channels
    included, so their readout is learned on training windows and their prediction counts in the validation
    objective), while encoders read only :attr:`NeuralData.held_in_mask`, exactly what they read when the posterior
    is computed for co-smoothing. The validation objective is therefore the training objective on unseen windows.

    ``batch_size`` is the global batch; under DDP each of the W ranks loads ``batch_size / W`` windows per step
    through a :class:`SeededShardSampler` (Lightning's own distributed sampler is switched off in the Trainer).
    """

    def __init__(self, data: NeuralData, batch_size: int, seed: int) -> None:
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.values = torch.as_tensor(data.values, dtype=torch.float32)
        self.mask = torch.as_tensor(data.mask, dtype=torch.bool)
        self.encoder_mask = torch.as_tensor(data.held_in_mask, dtype=torch.bool)
        self.inputs = None if data.inputs is None else torch.as_tensor(data.inputs, dtype=torch.float32)
        self.bins_of_data = torch.as_tensor(data.bins_of_data, dtype=torch.long)

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def _per_rank_batch(self, rows: np.ndarray, world_size: int) -> int:
        """Each rank's share of the global batch (rounded up; exact when the batch is a multiple of W)."""
        return max(1, -(-min(self.batch_size, len(rows)) // world_size))

    def _loader(self, rows: np.ndarray, shuffle: bool) -> DataLoader:
        rank, world_size = self._rank_and_world()
        return DataLoader(
            _Windows(self.values, self.mask, self.encoder_mask, rows, self.bins_of_data, self.inputs),
            batch_size=self._per_rank_batch(rows, world_size),
            sampler=SeededShardSampler(len(rows), self.seed, shuffle, rank, world_size),
            collate_fn=_collate,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.data.split_indices("train"), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.data.split_indices("val"), shuffle=False)
