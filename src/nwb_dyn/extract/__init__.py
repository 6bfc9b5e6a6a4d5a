"""NWB → :class:`NeuralData`: binned spikes or continuous signals in windows, with splits and held-out channels.

This package must not import torch.
"""

from nwb_dyn.extract.extract import extract_neural_data
from nwb_dyn.extract.neural_data import NeuralData
from nwb_dyn.extract.session import SessionInfo

__all__ = ["NeuralData", "SessionInfo", "extract_neural_data"]
