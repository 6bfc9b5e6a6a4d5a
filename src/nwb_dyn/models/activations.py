"""Unit nonlinearities φ(x; h) of low-rank RNNs, with a per-unit bias h (algorithms.md §1.3)."""

from __future__ import annotations

import torch

ACTIVATIONS = ("relu", "clipped_relu", "tanh")


def apply_activation(name: str, currents: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """φ(currents; bias) elementwise; ``bias`` (N,) broadcasts over leading dims of ``currents`` (..., N).

    relu: max(x − h, 0); clipped_relu: max(x + h, 0) − max(x, 0) (bounded between 0 and h); tanh: tanh(x − h).
    """
    if name == "relu":
        return torch.relu(currents - bias)
    if name == "clipped_relu":
        return torch.relu(currents + bias) - torch.relu(currents)
    if name == "tanh":
        return torch.tanh(currents - bias)
    raise ValueError(f"unknown activation '{name}'; expected one of {ACTIVATIONS}")
