"""Convolutional encoders for the encoder proposal of variational SMC (algorithms.md §1.11).

A stack of 1-D convolutions over time maps observations (B, T, D) to a diagonal Gaussian over the latents at every
step, mean and log-variance (B, T, R). Padding keeps the length T: ``causal`` pads on the left, so the output at t
sees y_{t−w+1..t} (a filter), ``acausal`` pads on the right, so it sees y_{t..t+w−1} (look-ahead); w is the
receptive field Σ k_i − L + 1.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

PADDINGS = ("causal", "acausal")
PAD_MODES = ("constant", "reflect", "replicate", "circular")


class CNNEncoder(nn.Module):
    """Conv1d(k_1, c_1) → GELU → … → Conv1d(k_L) heads for the mean and log-variance of q(z_t | y).

    kernel_sizes: (k_1, …, k_L); channels: (c_1, …, c_{L−1}). The log-variance head's bias starts at
    2·log(init_scale), so the encoder's variance starts near the latent noise's (paper: "+log .01").
    """

    def __init__(
        self,
        num_channels: int,
        rank: int,
        kernel_sizes: tuple[int, ...] | list[int] = (21, 11, 1),
        channels: tuple[int, ...] | list[int] = (64, 64),
        padding: str = "causal",
        pad_mode: str = "constant",
        init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if len(channels) != len(kernel_sizes) - 1:
            raise ValueError(f"need one channel count per hidden layer: {len(kernel_sizes) - 1}, got {len(channels)}")
        if padding not in PADDINGS or pad_mode not in PAD_MODES:
            raise ValueError(f"padding must be one of {PADDINGS} and pad_mode one of {PAD_MODES}")
        self.padding = padding
        self.pad_mode = pad_mode
        widths = [num_channels, *channels]
        self.hidden = nn.ModuleList(
            nn.Conv1d(widths[i], widths[i + 1], kernel_sizes[i]) for i in range(len(channels))
        )
        self.mean_head = nn.Conv1d(widths[-1], rank, kernel_sizes[-1])
        self.log_variance_head = nn.Conv1d(widths[-1], rank, kernel_sizes[-1])
        with torch.no_grad():
            self.log_variance_head.bias.add_(2 * math.log(init_scale))

    @property
    def receptive_field(self) -> int:
        """Number of time steps one output sees."""
        kernels = [layer.kernel_size[0] for layer in self.hidden] + [self.mean_head.kernel_size[0]]
        return sum(kernels) - len(kernels) + 1

    def _pad(self, signal: torch.Tensor, kernel: int) -> torch.Tensor:
        if kernel == 1:
            return signal
        pad = (kernel - 1, 0) if self.padding == "causal" else (0, kernel - 1)
        if self.pad_mode == "constant":
            return F.pad(signal, pad)
        return F.pad(signal, pad, mode=self.pad_mode)

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """observations (B, T, D) → mean (B, T, R), log-variance (B, T, R)."""
        signal = observations.transpose(1, 2)  # Conv1d wants (B, D, T)
        for layer in self.hidden:
            signal = F.gelu(layer(self._pad(signal, layer.kernel_size[0])))
        signal = self._pad(signal, self.mean_head.kernel_size[0])
        return self.mean_head(signal).transpose(1, 2), self.log_variance_head(signal).transpose(1, 2)
