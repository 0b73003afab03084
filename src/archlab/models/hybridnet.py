"""Seed 002's HybridNet: a dense block, GroupNorm residual stages, multi-scale attention and an FPN.

``hybridnet`` is the seed's model as written: 7,696,913 parameters at 3×224×224
with 8 classes. Its forward computes a three-level feature pyramid (FPN) and then
classifies from the attention output alone, so the 2,000,384 FPN parameters never
receive a gradient (and ``DistributedDataParallel`` refuses the model unless
``find_unused_parameters=True``). ``hybridnet_fpn`` is the same network whose head
also reads the pyramid: the global average of each pyramid level is concatenated
to the pooled attention output (512 + 3·256 = 1,280 features), which adds
393,216 parameters (8,090,129 in all). See ``docs/models_hybridnet.md``.

Module names follow the seed's, so a state dict saved from the seed's ``HybridNet``
loads into ``hybridnet`` unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archlab.blocks.dense import DenseBlock, Transition
from archlab.blocks.hybrid import GNResidualBlock, MultiScaleAttention, group_norm
from archlab.models.registry import register_model

HYBRIDNET_INPUT = (3, 224, 224)


class HybridNet(nn.Module):
    """Seed 002's HybridNet; ``fpn_head=True`` feeds the feature pyramid to the classifier.

    Stem: GroupNorm(1) → 7×7/2 conv → GroupNorm → ReLU → 3×3/2 max-pool. Then a dense block
    (``dense_layers`` layers of growth ``growth_rate``), a transition to ``stage_channels[0]``
    with 2×2 average pooling, three GroupNorm residual blocks (stride 1, 2, 2) to
    ``stage_channels``, multi-scale attention, global average pooling and an MLP head
    (``head_hidden`` widths, GroupNorm, ReLU, dropout). The pyramid's inputs are the
    transition output and the last two residual outputs.
    """

    def __init__(
        self,
        num_classes: int = 8,
        in_chans: int = 3,
        dropout: float = 0.3,
        fpn_head: bool = False,
        stem_channels: int = 64,
        growth_rate: int = 32,
        dense_layers: int = 6,
        stage_channels: tuple[int, int, int] = (128, 256, 512),
        fpn_channels: int = 256,
        head_hidden: tuple[int, int] = (512, 256),
    ) -> None:
        super().__init__()
        if len(stage_channels) != 3 or len(head_hidden) != 2:
            raise ValueError(
                f"hybridnet needs 3 stage_channels and 2 head_hidden widths, got {tuple(stage_channels)} and "
                f"{tuple(head_hidden)}; the seed's are (128, 256, 512) and (512, 256)"
            )
        c1, c2, c3 = stage_channels
        dense_out = stem_channels + dense_layers * growth_rate
        self.fpn_head = fpn_head
        self.conv1 = nn.Sequential(
            nn.GroupNorm(1, in_chans),
            nn.Conv2d(in_chans, stem_channels, kernel_size=7, stride=2, padding=3, bias=False),
            group_norm(stem_channels),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.dense1 = DenseBlock(stem_channels, dense_out, growth_rate=growth_rate, num_layers=dense_layers)
        self.trans1 = Transition(dense_out, c1)
        self.res_blocks = nn.ModuleList(
            [GNResidualBlock(c1, c1), GNResidualBlock(c1, c2, stride=2), GNResidualBlock(c2, c3, stride=2)]
        )
        self.attention = MultiScaleAttention(c3)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fpn = nn.ModuleDict(
            {
                "lateral_1": nn.Conv2d(c1, fpn_channels, 1),
                "lateral_2": nn.Conv2d(c2, fpn_channels, 1),
                "lateral_3": nn.Conv2d(c3, fpn_channels, 1),
                "output_1": nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1),
                "output_2": nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1),
                "output_3": nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1),
            }
        )
        h1, h2 = head_hidden
        head_in = c3 + 3 * fpn_channels if fpn_head else c3
        self.classifier = nn.Sequential(
            nn.Linear(head_in, h1),
            group_norm(h1),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(h1, h2),
            group_norm(h2),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(h2, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """The seed's init: Kaiming-normal (fan-out) convs, unit/zero norms, N(0, 0.01) linears, zero biases."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.GroupNorm | nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def pyramid(self, c1: torch.Tensor, c2: torch.Tensor, c3: torch.Tensor) -> list[torch.Tensor]:
        """The seed's top-down pyramid ``[p1, p2, p3]`` (finest first), each with ``fpn_channels`` channels.

        As written in the seed: ``p3 = out3(l3)``, ``p2 = out2(l2 + up(l3) + l2)``,
        ``p1 = out1(l1 + up(p2) + l1)`` — each lateral is added twice, and the finest level
        upsamples the smoothed ``p2`` rather than the merged map of the FPN paper.
        """
        lat3 = self.fpn["lateral_3"](c3)
        lat2 = self.fpn["lateral_2"](c2)
        lat1 = self.fpn["lateral_1"](c1)
        p3 = self.fpn["output_3"](lat3)
        p2 = self.fpn["output_2"](lat2 + _upsample_add(lat3, lat2))
        p1 = self.fpn["output_1"](lat1 + _upsample_add(p2, lat1))
        return [p1, p2, p3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trans1(self.dense1(self.conv1(x)))
        c1 = x
        outs = []
        for block in self.res_blocks:
            x = block(x)
            outs.append(x)
        levels = self.pyramid(c1, outs[1], outs[2])
        x = self.avgpool(self.attention(x)).flatten(1)
        if self.fpn_head:
            x = torch.cat([x] + [self.avgpool(p).flatten(1) for p in levels], dim=1)
        return self.classifier(x)


def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinearly resize ``x`` to ``y``'s H×W and add ``y``."""
    return F.interpolate(x, size=y.shape[2:], mode="bilinear", align_corners=False) + y


@register_model("hybridnet", input_size=HYBRIDNET_INPUT, num_classes=8, source="seed 002")
def hybridnet(num_classes: int = 8, in_chans: int = 3, **kwargs) -> HybridNet:
    """Seed 002's HybridNet as written: the FPN is computed but unused (its parameters get no gradient)."""
    return HybridNet(num_classes=num_classes, in_chans=in_chans, fpn_head=False, **kwargs)


@register_model("hybridnet_fpn", input_size=HYBRIDNET_INPUT, num_classes=8, source="seed 002")
def hybridnet_fpn(num_classes: int = 8, in_chans: int = 3, **kwargs) -> HybridNet:
    """HybridNet whose head also reads the pooled pyramid levels, so every parameter is trained."""
    return HybridNet(num_classes=num_classes, in_chans=in_chans, fpn_head=True, **kwargs)
