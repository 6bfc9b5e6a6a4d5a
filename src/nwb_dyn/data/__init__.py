"""Lightning DataModule over :class:`~nwb_dyn.extract.NeuralData` (windows, splits, held-out channels)."""

from nwb_dyn.data.datamodule import NeuralDataModule, WindowBatch

__all__ = ["NeuralDataModule", "WindowBatch"]
