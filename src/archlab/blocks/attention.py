"""Attention modules. Every constructor takes the channel count first."""

from __future__ import annotations

import torch
from torch import nn

from archlab.blocks.registry import register_attention


@register_attention("gap_gate")
class GlobalAvgSigmoidGate(nn.Module):
    """Scale each channel by ``sigmoid(mean over H, W)`` of itself (seed 001, Model 3).

    A parameter-free channel gate: ``y = x * sigmoid(GAP(x))``. Parameters: 0.
    ``channels`` is accepted for the registry contract and not used.
    """

    def __init__(self, channels: int | None = None) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x.mean(dim=(2, 3), keepdim=True))
