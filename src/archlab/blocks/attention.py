"""Attention modules. Every constructor takes the channel count first.

Names ending in ``_ms`` are the exact variants of seed 000's ``modules.py`` (spec
``multispectral_models.md`` §2.7–2.12); the plain names follow the papers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from archlab.blocks.conv import create_act
from archlab.blocks.registry import register_attention


def hidden_width(channels: int, reduction: int, min_hidden: int, name: str) -> int:
    """``max(min_hidden, channels // reduction)``; raise ``ValueError`` when it is 0."""
    hidden = max(min_hidden, channels // reduction)
    if hidden < 1:
        raise ValueError(
            f"{name}: hidden width channels // {reduction} is 0 for {channels} channels; "
            f"use channels >= {reduction} or the paper variant (hidden width at least 1)"
        )
    return hidden


def check_odd_kernel(kernel_size: int, name: str) -> None:
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"{name}: kernel_size must be odd and positive to keep the size, got {kernel_size}")


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


@register_attention("se")
class SqueezeExcite(nn.Module):
    """Channel gate ``x · σ(W2 δ(W1 GAP(x)))`` (Hu et al., "Squeeze-and-Excitation Networks", 2018).

    Hidden width h = max(min_hidden, ⌊C/reduction⌋). Parameters: 2·C·h (+ h + C with bias).
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        min_hidden: int = 1,
        bias: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = hidden_width(channels, reduction, min_hidden, "se")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=bias),
            nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(hidden, channels, 1, bias=bias),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.pool(x))


@register_attention("se_ms")
def se_ms(channels: int) -> SqueezeExcite:
    """Seed 000's SE (spec §2.8): no conv bias, Dropout(0.1) inside, h = ⌊C/16⌋ (C ≥ 16). Parameters: 2·C·h."""
    return SqueezeExcite(channels, reduction=16, min_hidden=0, bias=False, dropout=0.1)


def eca_kernel_size(channels: int, gamma: int = 2, beta: int = 1) -> int:
    """ECA's adaptive kernel: t = int(|log2(C)/γ + b/γ|), made odd by adding 1 when even."""
    t = int(abs(math.log2(channels) / gamma + beta / gamma))
    return t if t % 2 else t + 1


@register_attention("eca")
class EfficientChannelAttention(nn.Module):
    """Channel gate from a 1-D conv across the pooled channels (Wang et al., "ECA-Net", 2020).

    Kernel k = :func:`eca_kernel_size` unless given. Parameters: k.
    ``fan_out_init`` draws the weight from N(0, 1/k) (Kaiming-normal, fan_out, gain 1),
    as seed 000 does; otherwise PyTorch's default init is kept.
    """

    def __init__(
        self,
        channels: int,
        gamma: int = 2,
        beta: int = 1,
        kernel_size: int | None = None,
        fan_out_init: bool = False,
    ) -> None:
        super().__init__()
        k = eca_kernel_size(channels, gamma, beta) if kernel_size is None else kernel_size
        check_odd_kernel(k, "eca")
        self.kernel_size = k
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()
        if fan_out_init:
            nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="sigmoid")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(x).flatten(2).transpose(1, 2)  # (N, 1, C)
        y = self.conv(y).transpose(1, 2).unsqueeze(-1)  # (N, C, 1, 1)
        return x * self.sigmoid(y)


@register_attention("eca_ms")
def eca_ms(channels: int) -> EfficientChannelAttention:
    """Seed 000's ECA (spec §2.9): the paper's ECA with the fan-out Kaiming-normal init. Parameters: k."""
    return EfficientChannelAttention(channels, fan_out_init=True)


@register_attention("spectral")
class SpectralAttention(nn.Module):
    """Per-band gate a = σ(Linear(ReLU(Linear(mean_HW x)))), applied by ``mode``.

    ``mode="mul"``: x·a (an SE gate with linear layers, Hu et al. 2018, as band re-weighting);
    ``"add"``: x + a (seed 000 from 2025-03-07); ``"res"``: x + x·a.
    Hidden h = max(min_hidden, ⌊C/reduction⌋). Parameters: 2·C·h + h + C.
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 1, mode: str = "mul") -> None:
        super().__init__()
        if mode not in ("mul", "add", "res"):
            raise ValueError(f"spectral: mode must be 'mul', 'add' or 'res', got {mode!r}")
        hidden = hidden_width(channels, reduction, min_hidden, "spectral")
        self.mode = mode
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.fc(x.mean(dim=(2, 3)))[:, :, None, None]
        if self.mode == "add":
            return x + a
        if self.mode == "res":
            return x + x * a
        return x * a


@register_attention("spectral_ms")
def spectral_ms(channels: int) -> SpectralAttention:
    """Seed 000's SpectralAttention-add (spec §2.7): x + a, h = ⌊C/16⌋ (C ≥ 16). Parameters: 2·C·h + h + C."""
    return SpectralAttention(channels, reduction=16, min_hidden=0, mode="add")


@register_attention("spatial")
class SpatialAttention(nn.Module):
    """Spatial gate σ(conv_k×k([mean_C x; max_C x])) (Woo et al., "CBAM", 2018, eq. 3).

    Mean map first, no conv bias; ``norm=True`` adds a BN(1) before the sigmoid (CBAM's code).
    Parameters: 2·k² (+ 2 with norm). ``channels`` is accepted for the registry contract.
    """

    def __init__(self, channels: int | None = None, kernel_size: int = 7, norm: bool = False) -> None:
        super().__init__()
        check_odd_kernel(kernel_size, "spatial")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.norm = nn.BatchNorm2d(1) if norm else nn.Identity()
        self.sigmoid = nn.Sigmoid()

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        m = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return self.sigmoid(self.norm(self.conv(m)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


@register_attention("cbam")
class CBAM(nn.Module):
    """Channel gate σ(MLP(avg) + MLP(max)) then spatial gate (Woo et al., "CBAM", 2018).

    As the paper's equations: bias-free shared MLP, h = max(min_hidden, ⌊C/reduction⌋),
    7×7 spatial conv without BN. Parameters: 2·C·h + 2·k².
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 1, kernel_size: int = 7) -> None:
        super().__init__()
        hidden = hidden_width(channels, reduction, min_hidden, "cbam")
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(), nn.Conv2d(hidden, channels, 1, bias=False)
        )
        self.sigmoid = nn.Sigmoid()
        self.spatial = SpatialAttention(channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The shared MLP runs on both pooled vectors in one call (stacked along the batch).
        n = x.shape[0]
        pooled = torch.cat([self.avg_pool(x), self.max_pool(x)], dim=0)
        s = self.mlp(pooled)
        y = x * self.sigmoid(s[:n] + s[n:])
        return self.spatial(y)


@register_attention("cbam_ms")
class CBAMMS(nn.Module):
    """Seed 000's CBAM "project variant" (spec §2.12): average-only channel gate, BN spatial gate, residual.

    ``y = x · σ(W2 ReLU(W1 GAP(x)))``; ``out = y · σ(BN(conv7×7([mean y; max y]))) + x``,
    hidden r = max(16, ⌊C/8⌋). Parameters: 2·C·r + 100.
    """

    def __init__(self, channels: int, reduction: int = 8, min_hidden: int = 16) -> None:
        super().__init__()
        hidden = max(min_hidden, channels // reduction)
        self.channel_gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.spatial = SpatialAttention(channels, kernel_size=7, norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * self.channel_gate(x)
        return y * self.spatial.gate(y) + x


@register_attention("coord")
class CoordinateAttention(nn.Module):
    """Direction-aware gates a_h(H) · a_w(W) from pooled rows and columns (Hou et al., CVPR 2021).

    Middle width m = max(min_hidden, ⌊C/reduction⌋); conv → BN → act on the joined
    [H; W] strip, then one 1×1 conv + sigmoid per direction.
    Parameters: 3·C·m + 2·m (+ m + 2·C with bias). Paper: reduction 32, bias, hardswish.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 32,
        min_hidden: int = 8,
        bias: bool = True,
        act: str = "hardswish",
    ) -> None:
        super().__init__()
        mid = hidden_width(channels, reduction, min_hidden, "coord")
        self.conv1 = nn.Conv2d(channels, mid, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act = create_act(act)
        self.conv_h = nn.Conv2d(mid, channels, 1, bias=bias)
        self.conv_w = nn.Conv2d(mid, channels, 1, bias=bias)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        x_h = x.mean(dim=3, keepdim=True)  # (N, C, H, 1)
        x_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (N, C, W, 1)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        a_h = self.sigmoid(self.conv_h(y_h))
        a_w = self.sigmoid(self.conv_w(y_w.transpose(2, 3)))
        return x * a_h * a_w


@register_attention("coord_ms")
def coord_ms(channels: int, reduction: int = 16) -> CoordinateAttention:
    """Seed 000's CoordinateAttention (spec §2.11): no bias, ReLU, m = max(8, ⌊C/16⌋). Parameters: 3·C·m + 2·m."""
    return CoordinateAttention(channels, reduction=reduction, min_hidden=8, bias=False, act="relu")


class PositionAttention(nn.Module):
    """DANet's position attention: x + γ · V·softmax(QᵀK) over all H·W positions (Fu et al. 2019).

    Parameters: 2·(C·q + q) + C² + C + 1, q = max(1, ⌊C/8⌋). Memory grows as (H·W)².
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        q = max(1, channels // reduction)
        self.query = nn.Conv2d(channels, q, 1)
        self.key = nn.Conv2d(channels, q, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (N, HW, q)
        k = self.key(x).flatten(2)  # (N, q, HW)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # (N, HW, HW)
        v = self.value(x).flatten(2)  # (N, C, HW)
        out = torch.bmm(v, attn.transpose(1, 2)).view(n, c, h, w)
        return x + self.gamma * out


class ChannelAttention(nn.Module):
    """DANet's channel attention: x + γ · softmax(max(XXᵀ) − XXᵀ)·X over channels (Fu et al. 2019). Parameters: 1."""

    def __init__(self, channels: int | None = None) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        flat = x.flatten(2)  # (N, C, HW)
        energy = torch.bmm(flat, flat.transpose(1, 2))  # (N, C, C)
        energy = energy.amax(dim=-1, keepdim=True) - energy
        out = torch.bmm(torch.softmax(energy, dim=-1), flat).view(n, c, h, w)
        return x + self.gamma * out


@register_attention("dual")
class DualAttention(nn.Module):
    """Position attention + channel attention, summed (Fu et al., "DANet", CVPR 2019).

    Without the paper's 3×3 conv heads around the two modules. Parameters:
    2·(C·q + q) + C² + C + 2, q = max(1, ⌊C/8⌋). Memory grows as (H·W)².
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.position = PositionAttention(channels, reduction)
        self.channel = ChannelAttention(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.position(x) + self.channel(x)


@register_attention("dual_ms")
class DualAttentionMS(nn.Module):
    """Seed 000's DualAttention (spec §2.10): ``spectral_ms`` then ``spatial`` (k×k, no BN).

    Parameters: 2·C·h + h + C + 2·k², h = ⌊C/16⌋ (C ≥ 16).
    """

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.spectral = spectral_ms(channels)
        self.spatial = SpatialAttention(channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.spectral(x))
