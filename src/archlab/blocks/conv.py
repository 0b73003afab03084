"""Convolution blocks: conv-norm-act, depthwise-separable, multi-scale and dilated variants.

Names ending in ``_ms`` are the exact variants of seed 000's ``modules.py`` (the
multispectral models, spec ``multispectral_models.md`` §2); the plain names follow
the papers. Every block takes ``(in_channels, out_channels, ...)``.
"""

from __future__ import annotations

from types import MappingProxyType

import torch
from torch import nn

from archlab._registry import unknown_name_message
from archlab.blocks.registry import register_block

ACTIVATIONS = MappingProxyType(
    {
        "relu": nn.ReLU,
        "relu6": nn.ReLU6,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "hardswish": nn.Hardswish,
        "hardsigmoid": nn.Hardsigmoid,
        "leaky_relu": nn.LeakyReLU,
        "elu": nn.ELU,
        "mish": nn.Mish,
        "prelu": nn.PReLU,
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "identity": nn.Identity,
    }
)
NORMS = ("batch", "group", "none")


def create_act(name: str | None) -> nn.Module:
    """Build the activation ``name`` (``None`` or ``"none"`` give ``nn.Identity``)."""
    if name is None or name == "none":
        return nn.Identity()
    if name not in ACTIVATIONS:
        raise ValueError(unknown_name_message("activation", name, list(ACTIVATIONS)))
    return ACTIVATIONS[name]()


def group_count(channels: int, max_groups: int = 32) -> int:
    """GroupNorm group count for ``channels``: seed 002's ``get_groups`` table, made always valid.

    The table gives 1 (≤8 channels), 2 (≤16), 4 (≤32), 8 (≤64), 16 (≤128), else 32,
    capped at ``max_groups``; the result is the largest divisor of ``channels`` not
    above that target, so it equals the seed's value wherever the seed's value divides.
    """
    if channels < 1:
        raise ValueError(f"group_count needs channels >= 1, got {channels}")
    target = 32
    for limit, groups in ((8, 1), (16, 2), (32, 4), (64, 8), (128, 16)):
        if channels <= limit:
            target = groups
            break
    target = max(1, min(target, max_groups))
    return max(g for g in range(1, target + 1) if channels % g == 0)


def create_norm(name: str | None, channels: int, num_groups: int | None = None) -> nn.Module:
    """Build a 2-D norm: ``"batch"``, ``"group"`` (``num_groups`` or :func:`group_count`) or ``"none"``."""
    if name is None or name == "none":
        return nn.Identity()
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "group":
        groups = group_count(channels) if num_groups is None else num_groups
        if groups < 1 or channels % groups:
            raise ValueError(
                f"GroupNorm needs channels divisible by num_groups, got {channels} channels and "
                f"{groups} groups; pass num_groups dividing {channels} or leave it None"
            )
        return nn.GroupNorm(groups, channels)
    raise ValueError(unknown_name_message("norm", name, list(NORMS)))


def check_groups(in_channels: int, out_channels: int, groups: int, where: str) -> None:
    """Raise ``ValueError`` unless ``groups`` divides both channel counts."""
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(
            f"{where}: groups={groups} must divide in_channels={in_channels} and "
            f"out_channels={out_channels}; pick groups from their common divisors"
        )


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size at stride 1 for an odd ``kernel_size``."""
    return dilation * (kernel_size - 1) // 2


@register_block("conv_norm_act")
class ConvNormAct(nn.Module):
    """Conv k×k → norm → activation (the basic unit of every CNN).

    Parameters: k²·C_in·C_out/groups (+ C_out if bias) + 2·C_out (batch or group norm).
    The conv has a bias only when there is no norm, unless ``bias`` says otherwise.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
        bias: bool | None = None,
        norm: str | None = "batch",
        act: str | None = "relu",
        num_groups: int | None = None,
    ) -> None:
        super().__init__()
        check_groups(in_channels, out_channels, groups, "conv_norm_act")
        padding = same_padding(kernel_size, dilation) if padding is None else padding
        bias = (norm is None or norm == "none") if bias is None else bias
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
        )
        self.norm = create_norm(norm, out_channels, num_groups)
        self.act = create_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


@register_block("dilated_conv")
def dilated_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 2,
    norm: str | None = "batch",
    act: str | None = "relu",
) -> ConvNormAct:
    """Dilated conv-norm-act with size-keeping padding (Yu & Koltun, 2016); parameters as ``conv_norm_act``."""
    return ConvNormAct(in_channels, out_channels, kernel_size, stride, dilation=dilation, norm=norm, act=act)


@register_block("dsconv")
class DepthwiseSeparableConv(nn.Module):
    """Depthwise k×k conv-norm-act then pointwise 1×1 conv-norm-act (MobileNet, Howard et al. 2017).

    Parameters: k²·C_in + 2·C_in + C_in·C_out + 2·C_out (batch or group norm).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        norm: str | None = "batch",
        act: str | None = "relu",
    ) -> None:
        super().__init__()
        self.depthwise = ConvNormAct(
            in_channels,
            in_channels,
            kernel_size,
            stride,
            dilation=dilation,
            groups=in_channels,
            norm=norm,
            act=act,
        )
        self.pointwise = ConvNormAct(in_channels, out_channels, 1, norm=norm, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


@register_block("dsconv_ms")
class DSConvMS(nn.Module):
    """Residual depthwise-separable conv of seed 000 (spec §2.5): ``dw(k×k) → pw(1×1)`` plus a shortcut.

    The shortcut is the identity, or a 1×1 conv (stride ``stride``, no bias) + BN when
    the stride or the channel count changes. No norm or activation in the main path.
    Parameters: k²·C_in + C_in·C_out (+ C_in + C_out if bias) (+ C_in·C_out + 2·C_out if projected).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        padding = same_padding(kernel_size, dilation) if padding is None else padding
        self.depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            stride,
            padding,
            dilation=dilation,
            groups=in_channels,
            bias=bias,
        )
        # The original passes the dilation to the 1×1 conv too; it has no effect there.
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pointwise(self.depthwise(x))
        short = self.shortcut(x)
        # The original adds only when the shapes match (they do at size-keeping padding).
        return out + short if out.shape == short.shape else out


@register_block("multiscale")
class MultiScaleConv(nn.Module):
    """Parallel conv-norm-act branches of different kernel sizes (or dilations), concatenated.

    The Inception idea (Szegedy et al. 2015) without the pooling branch. The output
    channels are split across the branches (the first ones take the remainder).
    Parameters: Σ_b k_b²·C_in·c_b/groups + 2·c_b, with Σ_b c_b = C_out.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: tuple[int, ...] = (1, 3, 5),
        dilations: tuple[int, ...] | None = None,
        stride: int = 1,
        groups: int = 1,
        norm: str | None = "batch",
        act: str | None = "relu",
    ) -> None:
        super().__init__()
        dilations = (1,) * len(kernel_sizes) if dilations is None else tuple(dilations)
        if len(dilations) != len(kernel_sizes):
            raise ValueError(
                f"multiscale: need one dilation per kernel size, got kernel_sizes={kernel_sizes} and "
                f"dilations={dilations}; give tuples of the same length"
            )
        n = len(kernel_sizes)
        if out_channels < n:
            raise ValueError(
                f"multiscale: out_channels={out_channels} cannot be split across {n} branches; "
                f"use out_channels >= {n} or fewer kernel_sizes"
            )
        widths = [out_channels // n + (1 if i < out_channels % n else 0) for i in range(n)]
        self.branches = nn.ModuleList(
            ConvNormAct(in_channels, w, k, stride, dilation=d, groups=groups, norm=norm, act=act)
            for w, k, d in zip(widths, kernel_sizes, dilations)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


@register_block("multiscale_dilated")
def multiscale_dilated(
    in_channels: int,
    out_channels: int,
    dilations: tuple[int, ...] = (1, 2, 3),
    stride: int = 1,
    groups: int = 1,
    norm: str | None = "batch",
    act: str | None = "relu",
) -> MultiScaleConv:
    """Parallel 3×3 conv-norm-act branches at several dilations (ASPP, Chen et al. 2017, without pooling)."""
    return MultiScaleConv(
        in_channels, out_channels, (3,) * len(dilations), dilations, stride, groups=groups, norm=norm, act=act
    )


@register_block("multiscale_ms")
class MultiScaleBlockMS(nn.Module):
    """Seed 000's MultiScaleBlock (spec §2.6): three dilated ``dsconv_ms`` (d = 1, 2, 3), 1×1 fuse, ReLU, residual.

    ``out = x + ReLU(fuse(cat[b1(x), b2(x), b3(x)]))``; only the fuse conv is grouped.
    Parameters: 3·(k²·C + C² + 2·b·C) + 3C²/groups + b·C, with b = 1 if bias else 0.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if in_channels != out_channels or stride != 1:
            raise ValueError(
                f"multiscale_ms is a residual block: it needs in_channels == out_channels and stride 1, got "
                f"{in_channels}->{out_channels} at stride {stride}; put a dsconv_ms in front to change shape"
            )
        check_groups(3 * in_channels, out_channels, groups, "multiscale_ms fuse conv")
        c = in_channels
        self.branch1 = DSConvMS(c, c, kernel_size, dilation=1, bias=bias)
        self.branch2 = DSConvMS(c, c, kernel_size, dilation=2, bias=bias)
        self.branch3 = DSConvMS(c, c, kernel_size, dilation=3, bias=bias)
        self.fuse = nn.Conv2d(3 * c, c, 1, groups=groups, bias=bias)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)
        return x + self.act(self.fuse(y))
