"""Mobile blocks: MobileNetV2's inverted residual, EfficientNet's MBConv, MobileNetV3's block.

All three expand with a 1×1 conv, filter with a depthwise k×k conv, and project back
with a linear 1×1 conv (no activation: the "linear bottleneck"); the input is added
back when the stride is 1 and the channel count is unchanged. Seed 004 describes the
family; the papers fix the details (where the squeeze-excitation sits, how wide it is).
Every block also takes an optional registered ``attention``, built on the expanded
channels and applied after the depthwise conv (after the paper's SE, when there is one).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from archlab._registry import unknown_name_message
from archlab.blocks.registry import create_attention, register_block


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below ``min_value`` nor 90 % of ``value``.

    The channel-rounding rule of the MobileNet reference code (Sandler et al., 2018;
    Howard et al., 2019): 16/4 → 8, 72/4 → 24, 100 → 104, 18 → 24.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def activation(name: str) -> nn.Module:
    """The activation module called ``name``: relu, relu6, silu (= swish), hardswish (= hswish)."""
    kinds: dict[str, type[nn.Module]] = {
        "relu": nn.ReLU,
        "relu6": nn.ReLU6,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "hardswish": nn.Hardswish,
        "hswish": nn.Hardswish,
    }
    if name not in kinds:
        raise ValueError(unknown_name_message("activation", name, kinds))
    return kinds[name]()


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples with probability ``p`` and rescale the rest by ``1/(1−p)``.

    Huang et al., "Deep Networks with Stochastic Depth" (ECCV 2016). Identity in eval mode.
    """
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


def _conv_bn(
    cin: int, cout: int, kernel_size: int, stride: int, groups: int, act: str | None, bn_eps: float
) -> nn.Sequential:
    """k×k conv (no bias) → BatchNorm → optional activation. Parameters: ``k²·Cin·Cout/groups + 2·Cout``."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=bn_eps),
    ]
    if act is not None:
        layers.append(activation(act))
    return nn.Sequential(*layers)


def _check(block: str, in_channels: int, out_channels: int, stride: int, kernel_size: int) -> None:
    if in_channels < 1 or out_channels < 1:
        raise ValueError(
            f"{block} needs positive channel counts, got in_channels={in_channels}, out_channels={out_channels}"
        )
    if stride not in (1, 2):
        raise ValueError(f"{block} stride must be 1 or 2, got {stride}; use stride=2 to halve H and W")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f"{block} kernel_size must be odd to keep 'same' padding, got {kernel_size}; use 3 or 5"
        )


class SqueezeExcite(nn.Module):
    """``x · gate(W2 · act(W1 · GAP(x) + b1) + b2)`` with 1×1 convs ``C → S → C`` (Hu et al., CVPR 2018).

    The mobile papers' variant, with the squeeze width ``S`` given explicitly: EfficientNet
    (Tan & Le, 2019) uses ``S = max(1, int(Cin·se_ratio))`` of the *block input* with SiLU and
    sigmoid; MobileNetV3 (Howard et al., 2019) uses ``S = make_divisible(C/4, 8)`` with ReLU and
    hard-sigmoid. Parameters: ``2·C·S + S + C``.
    """

    def __init__(
        self, channels: int, squeeze_channels: int, act: str = "relu", gate: str = "sigmoid"
    ) -> None:
        super().__init__()
        if gate not in ("sigmoid", "hardsigmoid"):
            raise ValueError(f"SE gate must be 'sigmoid' or 'hardsigmoid', got {gate!r}")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.act = activation(act)
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = nn.Sigmoid() if gate == "sigmoid" else nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class _MobileBlock(nn.Module):
    """Shared forward: ``x + drop_path(block(x))`` when the shape is kept, else ``block(x)``."""

    block: nn.Sequential
    use_residual: bool
    drop_path_rate: float

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_residual:
            return x + drop_path(out, self.drop_path_rate, self.training)
        return out


@register_block("inverted_residual")
class InvertedResidual(_MobileBlock):
    """1×1 expand (ReLU6) → depthwise k×k (ReLU6) → linear 1×1 project, with a skip when shapes match.

    Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (CVPR 2018).
    Hidden width ``h = round(Cin·t)``; the expansion conv is left out when ``t = 1``.
    Parameters: ``Cin·h + 2·h`` (if t ≠ 1) ``+ k²·h + 2·h + h·Cout + 2·Cout``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expand_ratio: float = 6.0,
        kernel_size: int = 3,
        act: str = "relu6",
        attention: str | None = None,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        _check("inverted_residual", in_channels, out_channels, stride, kernel_size)
        hidden = int(round(in_channels * expand_ratio))
        if hidden < 1:
            raise ValueError(f"inverted_residual expand_ratio={expand_ratio} leaves {hidden} hidden channels")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if expand_ratio != 1:
            layers["expand"] = _conv_bn(in_channels, hidden, 1, 1, 1, act, bn_eps)
        layers["depthwise"] = _conv_bn(hidden, hidden, kernel_size, stride, hidden, act, bn_eps)
        layers["attention"] = create_attention(attention, hidden)
        layers["project"] = _conv_bn(hidden, out_channels, 1, 1, 1, None, bn_eps)
        self.block = nn.Sequential(layers)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.drop_path_rate = 0.0


@register_block("mbconv")
class MBConv(_MobileBlock):
    """Inverted residual with SiLU, squeeze-excitation and stochastic depth on the residual branch.

    Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs" (ICML 2019), from MnasNet's MBConv.
    Hidden width ``h = round(Cin·t)`` (no expansion conv when ``t = 1``); the SE squeezes
    to ``S = max(1, int(Cin·se_ratio))`` — a fraction of the block *input* — with SiLU and
    a sigmoid gate; ``se_ratio=0`` leaves it out. Stochastic depth drops the residual
    branch per sample with probability ``drop_path`` (only where there is a skip).
    Parameters: ``Cin·h + 2·h`` (if t ≠ 1) ``+ k²·h + 2·h + 2·h·S + S + h`` (if SE) ``+ h·Cout + 2·Cout``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expand_ratio: float = 6.0,
        kernel_size: int = 3,
        se_ratio: float = 0.25,
        drop_path: float = 0.0,
        act: str = "silu",
        attention: str | None = None,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        _check("mbconv", in_channels, out_channels, stride, kernel_size)
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(
                f"mbconv drop_path must be in [0, 1), got {drop_path}; EfficientNet-B0 uses up to 0.2"
            )
        if se_ratio < 0:
            raise ValueError(f"mbconv se_ratio must be ≥ 0 (0 = no SE), got {se_ratio}")
        hidden = int(round(in_channels * expand_ratio))
        if hidden < 1:
            raise ValueError(f"mbconv expand_ratio={expand_ratio} leaves {hidden} hidden channels")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if expand_ratio != 1:
            layers["expand"] = _conv_bn(in_channels, hidden, 1, 1, 1, act, bn_eps)
        layers["depthwise"] = _conv_bn(hidden, hidden, kernel_size, stride, hidden, act, bn_eps)
        if se_ratio > 0:
            layers["se"] = SqueezeExcite(hidden, max(1, int(in_channels * se_ratio)), act=act, gate="sigmoid")
        layers["attention"] = create_attention(attention, hidden)
        layers["project"] = _conv_bn(hidden, out_channels, 1, 1, 1, None, bn_eps)
        self.block = nn.Sequential(layers)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.drop_path_rate = drop_path


@register_block("mobilenetv3_block")
class MobileNetV3Block(_MobileBlock):
    """Inverted residual with h-swish (or ReLU) and an optional hard-sigmoid squeeze-excitation.

    Howard et al., "Searching for MobileNetV3" (ICCV 2019). The expanded width ``E`` is
    given (``expanded_channels``) or ``make_divisible(Cin·expand_ratio, 8)``; there is no
    expansion conv when ``E = Cin``. The SE sits after the depthwise conv and squeezes to
    ``S = make_divisible(E/4, 8)`` with ReLU and a hard-sigmoid gate.
    Parameters: ``Cin·E + 2·E`` (if E ≠ Cin) ``+ k²·E + 2·E + 2·E·S + S + E`` (if SE) ``+ E·Cout + 2·Cout``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        kernel_size: int = 3,
        expanded_channels: int | None = None,
        expand_ratio: float = 6.0,
        use_se: bool = True,
        act: str = "hardswish",
        attention: str | None = None,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        _check("mobilenetv3_block", in_channels, out_channels, stride, kernel_size)
        if expanded_channels is None:
            if expand_ratio <= 0:
                raise ValueError(f"mobilenetv3_block expand_ratio must be > 0, got {expand_ratio}")
            expanded_channels = make_divisible(in_channels * expand_ratio, 8)
        if expanded_channels < 1:
            raise ValueError(f"mobilenetv3_block expanded_channels must be ≥ 1, got {expanded_channels}")
        e = expanded_channels
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if e != in_channels:
            layers["expand"] = _conv_bn(in_channels, e, 1, 1, 1, act, bn_eps)
        layers["depthwise"] = _conv_bn(e, e, kernel_size, stride, e, act, bn_eps)
        if use_se:
            layers["se"] = SqueezeExcite(e, make_divisible(e / 4, 8), act="relu", gate="hardsigmoid")
        layers["attention"] = create_attention(attention, e)
        layers["project"] = _conv_bn(e, out_channels, 1, 1, 1, None, bn_eps)
        self.block = nn.Sequential(layers)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.drop_path_rate = 0.0
