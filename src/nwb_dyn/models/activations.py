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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """φ(x; h), ∂φ/∂x and ∂φ/∂h, each shaped like ``currents`` (..., N); ``bias`` is (N,).

    ∂φ/∂h is None where it equals −∂φ/∂x (every activation but the clipped ReLU), which saves a pass over N.
    """
    if name == "relu":
        shifted = currents - bias
        return torch.relu(shifted), indicator_greater(shifted, 0.0), None
    if name == "clipped_relu":
        upper = indicator_greater(currents, -bias)
        return torch.relu(currents + bias) - torch.relu(currents), upper - indicator_greater(currents, 0.0), upper
    if name == "tanh":
        value = torch.tanh(currents - bias)
        return value, 1.0 - value * value, None
    if name == "identity":
        return currents - bias, torch.ones_like(currents), None
    raise ValueError(f"unknown activation '{name}'; expected one of {ACTIVATIONS}")


def indicator_greater(values: torch.Tensor, threshold: torch.Tensor | float, out: torch.Tensor | None = None) -> torch.Tensor:
    """1.0 where ``values`` > ``threshold`` else 0.0, in the dtype of ``values`` (into ``out`` when given).

    One pass that writes floats directly: a comparison followed by ``.to(dtype)`` writes a bool temporary and then
    reads it again, which on (B·K, N) slopes measured about 9× slower on a CPU.
    """
    return torch.gt(values, threshold, out=torch.empty_like(values) if out is None else out)
