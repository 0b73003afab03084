"""Dense connectivity: the bottleneck dense layer, the dense block and the transition.

Huang et al., "Densely Connected Convolutional Networks" (CVPR 2017), DenseNet-BC.
The defaults follow seed 002 (HybridNet): GroupNorm with seed 002's group rule,
and a transition without ReLU whose 1×1 conv has a bias. ``norm="batch"``,
``act=True``, ``bias=False`` give the paper's (and torchvision's) DenseNet-BC.
"""

from __future__ import annotations

import torch
from torch import nn

from archlab.blocks.hybrid import group_norm
from archlab.blocks.registry import register_block


def _norm(kind: str, channels: int) -> nn.Module:
    """GroupNorm (seed 002's group rule) or BatchNorm over ``channels``."""
    if kind == "group":
        return group_norm(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"norm must be 'group' or 'batch', got {kind!r}; 'group' is seed 002's choice")


@register_block("dense_layer")
class DenseLayer(nn.Sequential):
    """Norm → ReLU → 1×1 conv (``bottleneck·k``) → Norm → ReLU → 3×3 conv (``k``): ``k`` new feature maps.

    DenseNet-BC's composite function H_l (Huang et al., 2017); ``out_channels`` is the
    growth rate ``k``. Parameters, with ``b = bottleneck·k``:
    ``2·Cin + Cin·b + 2·b + 9·b·k`` (both norms carry 2 parameters per channel).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bottleneck: int = 4,
        norm: str = "group",
        drop_rate: float = 0.0,
    ) -> None:
        if in_channels < 1 or out_channels < 1 or bottleneck < 1:
            raise ValueError(
                f"dense_layer needs positive in_channels, out_channels (growth rate) and bottleneck, got "
                f"{in_channels}, {out_channels}, {bottleneck}"
            )
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        width = bottleneck * out_channels
        layers: list[nn.Module] = [
            _norm(norm, in_channels),
            nn.ReLU(),
            nn.Conv2d(in_channels, width, 1, bias=False),
            _norm(norm, width),
            nn.ReLU(),
            nn.Conv2d(width, out_channels, 3, padding=1, bias=False),
        ]
        if drop_rate > 0:
            layers.append(nn.Dropout(drop_rate))
        super().__init__(*layers)


@register_block("dense_block")
class DenseBlock(nn.Module):
    """``num_layers`` dense layers, each fed the concatenation of the input and all earlier outputs.

    Huang et al. (2017); seed 002 uses ``growth_rate=32``, 6 layers, on 64 channels.
    ``out_channels = in_channels + num_layers·growth_rate``; give either ``num_layers``
    or an ``out_channels`` that fixes it. Parameters, with ``b = bottleneck·k``:
    ``L·(2·Cin + Cin·b + 2·b + 9·b·k) + (2 + b)·k·L·(L−1)/2``.
    GroupNorm rejects a group that holds one value (a 1-channel 1×1 input); use ``norm="batch"`` there.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        growth_rate: int = 32,
        num_layers: int | None = None,
        bottleneck: int = 4,
        norm: str = "group",
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if growth_rate < 1 or in_channels < 1:
            raise ValueError(
                f"dense_block needs positive in_channels and growth_rate, got {in_channels}, {growth_rate}"
            )
        added = out_channels - in_channels
        if num_layers is None:
            if added <= 0 or added % growth_rate:
                raise ValueError(
                    f"dense_block out_channels must be in_channels + num_layers·growth_rate, got "
                    f"{in_channels} → {out_channels} with growth_rate={growth_rate}; pick out_channels="
                    f"{in_channels + growth_rate * max(1, round(added / growth_rate))} or pass num_layers"
                )
            num_layers = added // growth_rate
        elif num_layers < 1 or added != num_layers * growth_rate:
            raise ValueError(
                f"dense_block with {num_layers} layers of growth {growth_rate} maps {in_channels} to "
                f"{in_channels + num_layers * growth_rate} channels, but out_channels={out_channels}; "
                f"pass out_channels={in_channels + num_layers * growth_rate}"
            )
        self.num_layers = num_layers
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bottleneck, norm, drop_rate)
            for i in range(num_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


@register_block("dense_transition")
class Transition(nn.Sequential):
    """Norm → [ReLU] → 1×1 conv → 2×2 average pool: compress channels and halve H and W.

    Huang et al. (2017), transition layer. Seed 002's has no ReLU and a biased conv (the
    defaults); the paper's is ``act=True, bias=False``. H and W are floored by the pool,
    so inputs need H, W ≥ 2. Parameters: ``2·Cin + Cin·Cout`` plus ``Cout`` with a bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        norm: str = "group",
        act: bool = False,
        bias: bool = True,
    ) -> None:
        layers: list[nn.Module] = [_norm(norm, in_channels)]
        if act:
            layers.append(nn.ReLU())
        layers += [nn.Conv2d(in_channels, out_channels, 1, bias=bias), nn.AvgPool2d(2)]
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < 2 or x.shape[-2] < 2:
            raise ValueError(
                f"dense_transition halves H and W with a 2×2 pool and needs H, W ≥ 2, got "
                f"{tuple(x.shape[-2:])}; feed a larger input or drop a downsampling stage"
            )
        return super().forward(x)
