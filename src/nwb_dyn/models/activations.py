"""Unit nonlinearities φ(x; h) of low-rank RNNs, with a per-unit bias h (algorithms.md §1.3).

Besides φ itself, :func:`activation_and_slopes` returns the two partial derivatives the fused transition
(:mod:`nwb_dyn.models.lowrank_step`) needs to recompute its backward pass without storing N-dimensional activations.
"""

from __future__ import annotations

import torch

ACTIVATIONS = ("relu", "clipped_relu", "tanh", "identity")


def apply_activation(name: str, currents: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """φ(currents; bias) elementwise; ``bias`` (N,) broadcasts over leading dims of ``currents`` (..., N).

    relu: max(x − h, 0); clipped_relu: max(x + h, 0) − max(x, 0) (bounded between 0 and h); tanh: tanh(x − h)
    (implemented properly, unlike the authors' code, algorithms.md §1.18); identity: x − h (the linear baseline).
    """
    if name == "relu":
        return torch.relu(currents - bias)
    if name == "clipped_relu":
        return torch.relu(currents + bias) - torch.relu(currents)
    if name == "tanh":
        return torch.tanh(currents - bias)
    if name == "identity":
        return currents - bias
    raise ValueError(f"unknown activation '{name}'; expected one of {ACTIVATIONS}")


def activation_and_slopes(
    name: str, currents: torch.Tensor, bias: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """φ(x; h), ∂φ/∂x and ∂φ/∂h, each shaped like ``currents`` (..., N); ``bias`` is (N,)."""
    if name == "relu":
        active = (currents > bias).to(currents.dtype)
        return torch.relu(currents - bias), active, -active
    if name == "clipped_relu":
        upper = (currents > -bias).to(currents.dtype)
        return torch.relu(currents + bias) - torch.relu(currents), upper - (currents > 0).to(currents.dtype), upper
    if name == "tanh":
        value = torch.tanh(currents - bias)
        slope = 1.0 - value * value
        return value, slope, -slope
    if name == "identity":
        ones = torch.ones_like(currents)
        return currents - bias, ones, -ones
    raise ValueError(f"unknown activation '{name}'; expected one of {ACTIVATIONS}")
