"""Residual blocks: basic, bottleneck, wide, ResNeXt, SE-ResNet and wide-basic (pre-activation and ECA).

Names ending in ``_ms`` are the exact variants of seed 000's ``modules.py`` (spec
``multispectral_models.md`` §2.3–2.4). Every block takes ``(in_channels, out_channels, ...)``
and, where it accepts one, an ``attention`` name built with ``create_attention(name, channels)``
and applied to the residual branch before the addition (SE-ResNet's placement).
"""

from __future__ import annotations

import torch
from torch import nn

from archlab.blocks.attention import eca_ms
from archlab.blocks.conv import check_groups, create_act, create_norm
from archlab.blocks.registry import create_attention, register_block


def projection(
    in_channels: int, out_channels: int, stride: int, norm: str | None = "batch", always: bool = False
) -> nn.Module:
    """Shortcut: identity, or 1×1 conv (stride, no bias) + norm when the shape changes (or ``always``)."""
    if not always and stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), create_norm(norm, out_channels)
    )


@register_block("basic")
class BasicBlock(nn.Module):
    """Two 3×3 conv-norm layers with a shortcut, ReLU after the sum (He et al., "ResNet", 2016).

    Also seed 000's ResidualBlock (spec §2.1). Parameters: 9·C_in·C_out + 9·C_out² + 4·C_out
    (+ C_in·C_out + 2·C_out with a projection shortcut), for batch or group norm.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        attention: str | None = None,
        norm: str | None = "batch",
        act: str = "relu",
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = create_norm(norm, out_channels)
        self.act1 = create_act(act)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = create_norm(norm, out_channels)
        self.attention = create_attention(attention, out_channels)
        self.shortcut = projection(in_channels, out_channels, stride, norm)
        self.act2 = create_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.attention(self.bn2(self.conv2(out)))
        return self.act2(out + self.shortcut(x))


@register_block("bottleneck")
class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (stride, groups) → 1×1 expand, with a shortcut (He et al., "ResNet", 2016).

    planes p = C_out / expansion, inner width w = ⌊p·base_width/64⌋·groups (ResNeXt's rule;
    w = p by default). Also seed 000's Bottleneck ×4 (spec §2.2).
    Parameters: C_in·w + 9·w²/groups + w·C_out + 4·w + 2·C_out (+ C_in·C_out + 2·C_out projected).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expansion: int = 4,
        groups: int = 1,
        base_width: int = 64,
        attention: str | None = None,
        norm: str | None = "batch",
        act: str = "relu",
    ) -> None:
        super().__init__()
        if out_channels % expansion:
            raise ValueError(
                f"bottleneck: out_channels={out_channels} must be a multiple of expansion={expansion}; "
                f"use out_channels={expansion * max(1, round(out_channels / expansion))} or another expansion"
            )
        planes = out_channels // expansion
        width = int(planes * base_width / 64) * groups
        if width < 1:
            raise ValueError(
                f"bottleneck: inner width int({planes}·{base_width}/64)·{groups} is 0; "
                f"raise out_channels or base_width"
            )
        check_groups(width, width, groups, "bottleneck 3×3 conv")
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = create_norm(norm, width)
        self.act1 = create_act(act)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = create_norm(norm, width)
        self.act2 = create_act(act)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = create_norm(norm, out_channels)
        self.attention = create_attention(attention, out_channels)
        self.shortcut = projection(in_channels, out_channels, stride, norm)
        self.act3 = create_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.attention(self.bn3(self.conv3(out)))
        return self.act3(out + self.shortcut(x))


@register_block("resnext")
def resnext_block(
    in_channels: int,
    out_channels: int,
    stride: int = 1,
    cardinality: int = 32,
    base_width: int = 4,
    attention: str | None = None,
) -> Bottleneck:
    """ResNeXt block: bottleneck with a grouped 3×3, w = ⌊(C_out/4)·base_width/64⌋·cardinality (Xie et al. 2017)."""
    return Bottleneck(
        in_channels, out_channels, stride, groups=cardinality, base_width=base_width, attention=attention
    )


@register_block("wide_bottleneck")
def wide_bottleneck(
    in_channels: int, out_channels: int, stride: int = 1, widen: int = 2, attention: str | None = None
) -> Bottleneck:
    """Wide bottleneck, inner width widen·C_out/4 (WRN-50-2; Zagoruyko & Komodakis 2016, torchvision)."""
    return Bottleneck(in_channels, out_channels, stride, base_width=64 * widen, attention=attention)


@register_block("se_basic")
def se_basic(in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16) -> BasicBlock:
    """SE-ResNet basic block: ``basic`` with an SE gate before the sum (Hu et al. 2018). Adds 2·C·h + h + C."""
    block = BasicBlock(in_channels, out_channels, stride)
    block.attention = create_attention("se", out_channels, reduction=reduction)
    return block


@register_block("se_bottleneck")
def se_bottleneck(in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16) -> Bottleneck:
    """SE-ResNet bottleneck: ``bottleneck`` with an SE gate before the sum (Hu et al. 2018). Adds 2·C·h + h + C."""
    block = Bottleneck(in_channels, out_channels, stride)
    block.attention = create_attention("se", out_channels, reduction=reduction)
    return block


@register_block("wide_bottleneck_ms")
class WideBottleneckMS(nn.Module):
    """Seed 000's WideBottleneck (spec §2.3): 1×1 C_in→p, 3×3 p→W (stride), 1×1 W→W, drop-path, shortcut.

    W = C_out, p = C_out / widen. Drop-path: one Bernoulli(1 − drop_path) draw per sample,
    scaled by the inverse keep rate (torchvision's ``StochasticDepth``, mode "row").
    Parameters: C_in·p + 9·p·W + W² + 2·p + 4·W (+ C_in·W + 2·W projected).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        widen: int = 4,
        drop_path: float = 0.1,
        attention: str | None = None,
    ) -> None:
        super().__init__()
        if out_channels % widen:
            raise ValueError(
                f"wide_bottleneck_ms: out_channels={out_channels} must be planes·widen with widen={widen}; "
                f"use a multiple of {widen}"
            )
        planes = out_channels // widen
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv3 = nn.Conv2d(out_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.attention = create_attention(attention, out_channels)
        from torchvision.ops import StochasticDepth  # imported here: torchvision costs seconds at start-up

        self.drop_path = StochasticDepth(drop_path, mode="row")
        self.downsample = projection(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.drop_path(self.attention(self.bn3(self.conv3(out))))
        return self.relu(out + self.downsample(x))


@register_block("wide_basic")
class WideBasicBlock(nn.Module):
    """Pre-activation wide block: BN-ReLU-conv3×3-dropout-BN-ReLU-conv3×3 + shortcut (Zagoruyko & Komodakis 2016).

    The projection shortcut is a bare 1×1 conv (no norm), as in pre-activation ResNets.
    Parameters: 2·C_in + 9·C_in·C_out + 2·C_out + 9·C_out² (+ C_in·C_out projected).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        dropout: float = 0.3,
        attention: str | None = None,
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.attention = create_attention(attention, out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.conv1(self.relu1(self.bn1(x))))
        out = self.attention(self.conv2(self.relu2(self.bn2(out))))
        return out + self.shortcut(x)


@register_block("wide_basic_eca")
def wide_basic_eca(
    in_channels: int, out_channels: int, stride: int = 1, dropout: float = 0.3
) -> WideBasicBlock:
    """``wide_basic`` with an ECA gate before the sum (Zagoruyko & Komodakis 2016; Wang et al. 2020). Adds k."""
    return WideBasicBlock(in_channels, out_channels, stride, dropout, attention="eca")


@register_block("wide_basic_eca_ms")
class WideBasicBlockECAMS(nn.Module):
    """Seed 000's WideBasicBlockECA (spec §2.4): conv3×3-dropout-BN-ReLU-conv3×3-ECA + shortcut, ReLU.

    ``bn2`` is built but, as in the final seed code, not applied (``apply_bn2=True`` gives the
    25–27 March 2025 form). The projection is 1×1 conv (stride, no bias) + BN.
    Parameters: 9·C_in·C + 9·C² + 4·C + k_ECA(C) (+ C_in·C + 2·C projected).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        dropout: float = 0.3,
        apply_bn2: bool = False,
    ) -> None:
        super().__init__()
        self.apply_bn2 = apply_bn2
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.eca = eca_ms(out_channels)
        self.downsample = projection(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.dropout(self.conv1(x))))
        out = self.conv2(out)
        if self.apply_bn2:
            out = self.bn2(out)
        return self.relu(self.eca(out) + self.downsample(x))
