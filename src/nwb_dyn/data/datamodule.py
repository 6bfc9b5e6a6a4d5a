"""Trial/window samples of a :class:`NeuralData` as a Lightning DataModule."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from nwb_dyn.extract import NeuralData


class WindowBatch(NamedTuple):
    """One batch of windows.

    values, mask: (B, T, D) float32 (mask is 1 where observed); index: (B,) row indices into the NeuralData.
    """

    values: torch.Tensor
    mask: torch.Tensor
    index: torch.Tensor


class _Windows(Dataset):
    def __init__(self, values: torch.Tensor, mask: torch.Tensor, rows: np.ndarray) -> None:
        self.values = values
        self.mask = mask
        self.rows = torch.as_tensor(rows, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, item: int) -> WindowBatch:
        row = self.rows[item]
        return WindowBatch(self.values[row], self.mask[row], row)


def _collate(items: list[WindowBatch]) -> WindowBatch:
    return WindowBatch(*(torch.stack(parts) for parts in zip(*items)))


class NeuralDataModule(pl.LightningDataModule):
    """Serves the train and validation windows of an in-memory :class:`NeuralData`.

    The validation batches hide held-out channels from the likelihood (mask 0), so the validation objective and
    co-smoothing score those channels only through the model's predictions.
    """

    def __init__(self, data: NeuralData, batch_size: int, seed: int) -> None:
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.values = torch.as_tensor(data.values, dtype=torch.float32)
        self.mask = torch.as_tensor(data.mask, dtype=torch.float32)
        self.validation_mask = self.mask * torch.as_tensor(~data.held_out, dtype=torch.float32)

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        rows = self.data.split_indices("train")
        return DataLoader(
            _Windows(self.values, self.mask, rows),
            batch_size=min(self.batch_size, len(rows)),
            shuffle=True,
            generator=generator,
            collate_fn=_collate,
        )

    def val_dataloader(self) -> DataLoader:
        rows = self.data.split_indices("val")
        return DataLoader(
            _Windows(self.values, self.validation_mask, rows),
            batch_size=max(1, min(self.batch_size, len(rows))),
            shuffle=False,
            collate_fn=_collate,
        )
