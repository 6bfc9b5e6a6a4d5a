"""NWB → :class:`NeuralData`: binned spikes or continuous signals in windows, with splits and held-out channels.

This package must not import torch.
"""

from nwb_dyn.extract.extract import extract_neural_data
from nwb_dyn.extract.inventory import Inventory, describe_fittable
from nwb_dyn.extract.neural_data import NeuralData
from nwb_dyn.extract.session import SessionInfo

__all__ = ["Inventory", "NeuralData", "SessionInfo", "describe_fittable", "extract_neural_data"]
