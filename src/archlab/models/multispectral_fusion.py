"""Seed 000's wide and multi-skip-fusion multispectral CNNs: Custom V5–V9 (spec §3.5–3.9).

V5 and V6 are wide regularised networks with one block-1 skip; V7–V9 share
:class:`MultiSkipFusionNet`, which fuses block 4 with the block-2 and block-3 skips. The
registered names are in :mod:`archlab.models.multispectral`.
"""

from __future__ import annotations

import torch
from torch import nn

from archlab.blocks.attention import CBAMMS, coord_ms, eca_ms, se_ms, spectral_ms
from archlab.blocks.conv import DSConvMS, MultiScaleBlockMS
from archlab.blocks.residual import WideBottleneckMS
from archlab.models.multispectral_nets import MS_CLASSES, check_match, conv1x1, conv3x3, head


def spectral_mixer(in_chans: int, out: int, groups: int = 1, attention: bool = False) -> nn.Sequential:
    """V5–V9 mixer: 1×1 in→64, BN, GELU, 3×3 64→out (groups), BN, [SpectralAttention-add], max-pool 2."""
    layers = [
        conv1x1(in_chans, 64),
        nn.BatchNorm2d(64),
        nn.GELU(),
        conv3x3(64, out, groups=groups),
        nn.BatchNorm2d(out),
    ]
    if attention:
        layers.append(spectral_ms(out))
    return nn.Sequential(*layers, nn.MaxPool2d(2, 2))


def first_block(cin: int, cout: int, widen: int) -> nn.Sequential:
    """V5–V9 block 1: DSConv, BN, GELU, WideBottleneck, SpectralAttention-add, Dropout, CoordAttention, Dropout."""
    return nn.Sequential(
        DSConvMS(cin, cin), nn.BatchNorm2d(cin), nn.GELU(), WideBottleneckMS(cin, cout, widen=widen),
        spectral_ms(cout), nn.Dropout(0.1), coord_ms(cout), nn.Dropout(0.1),
    )  # fmt: skip


def down_block(cin: int, cout: int, widen: int, attention: nn.Module, dropout: float) -> nn.Sequential:
    """V5–V9 blocks 2, 3: stride-2 DSConv, BN, GELU, WideBottleneck, attention, Dropout."""
    return nn.Sequential(
        DSConvMS(cin, cin, stride=2), nn.BatchNorm2d(cin), nn.GELU(),
        WideBottleneckMS(cin, cout, widen=widen), attention, nn.Dropout(dropout),
    )  # fmt: skip


class MultispectralV5(nn.Module):
    """V5 "Wide Regularized Network" (spec §3.5): WideBottlenecks (widen 4, drop-path 0.1), dropout 0.1 throughout.

    Two-conv spectral mixer, CBAM in block 4, a dilated DSConv at the start of block 4,
    skip block 1 → block 4. Published and measured: 1,716,240 parameters.
    """

    def __init__(
        self,
        num_classes: int = MS_CLASSES,
        in_chans: int = 12,
        dropout: float = 0.1,
        multiscale_block4: bool = False,
    ) -> None:
        super().__init__()
        self.spectral_mixer = spectral_mixer(in_chans, 32)
        self.block1 = first_block(32, 64, widen=4)
        self.block2 = down_block(64, 128, 4, eca_ms(128), dropout)
        self.block3 = down_block(128, 256, 4, se_ms(256), dropout)
        self.skip_adapter = nn.Sequential(conv1x1(64, 256), nn.AvgPool2d(4, 4))
        if multiscale_block4:
            start: list[nn.Module] = [MultiScaleBlockMS(256, 256), nn.BatchNorm2d(256)]
        else:
            start = [DSConvMS(256, 256, dilation=2), nn.BatchNorm2d(256), nn.GELU()]
        self.block4 = nn.Sequential(
            *start, WideBottleneckMS(256, 512, widen=4), CBAMMS(512), nn.Dropout(dropout)
        )
        self.classifier = nn.Sequential(conv1x1(512, 256), nn.GELU(), *head(256, num_classes, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.block1(self.spectral_mixer(x))
        deep = self.block3(self.block2(low))
        skip = self.skip_adapter(low)
        check_match(deep, skip, type(self).__name__)
        return self.classifier(self.block4(deep + skip))


class MultispectralV6(MultispectralV5):
    """V6 "Multi-Scale Enhanced Network" (spec §3.6), a final-experiment model: V5 with block 4 opened by
    MultiScaleBlock-DS + BN (no activation) instead of the dilated DSConv. Published and measured: 2,048,528.
    """

    def __init__(self, num_classes: int = MS_CLASSES, in_chans: int = 12, dropout: float = 0.1) -> None:
        super().__init__(num_classes, in_chans, dropout, multiscale_block4=True)


class MultiSkipFusionNet(nn.Module):
    """The V7–V9 family (spec §3.7–3.9): widen-2 WideBottlenecks, a learned block-1 skip fusion before
    block 4, and a fusion of block 4 with the block-2 and block-3 skips after it.

    ``learned_fusion`` (V8, V9): SpectralAttention in the mixer, a mixer skip, a learned
    4-way second fusion and an ECA + BN classifier; otherwise (V7) the second fusion is
    parameter-free. ``adapter_norm``, ``mixer_groups``, ``block4_groups``, ``block4_gelu``
    and ``normalise_fusion`` are V9's changes.
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int,
        widths: tuple[int, int, int, int, int],
        learned_fusion: bool,
        mixer_groups: int = 1,
        adapter_norm: bool = False,
        block4_groups: int = 1,
        block4_gelu: bool = False,
        block4_dropout: float = 0.2,
        normalise_fusion: bool = False,
    ) -> None:
        super().__init__()
        c0, c1, c2, c3, c4 = widths
        self.learned_fusion = learned_fusion
        self.normalise_fusion = normalise_fusion

        def adapter(cin: int, cout: int, pool: int) -> nn.Sequential:
            layers: list[nn.Module] = [conv1x1(cin, cout)]
            if adapter_norm:
                layers.append(nn.BatchNorm2d(cout))
            if pool > 1:
                layers.append(nn.AvgPool2d(pool, pool))
            return nn.Sequential(*layers)

        self.spectral_mixer = spectral_mixer(in_chans, c0, mixer_groups, attention=learned_fusion)
        self.block1 = first_block(c0, c1, widen=2)
        self.block2 = down_block(c1, c2, 2, eca_ms(c2), 0.1)
        self.block3 = down_block(c2, c3, 2, se_ms(c3), 0.15)
        self.skip_adapter = adapter(c1, c3, 4)
        if learned_fusion:
            self.skip_adapter_spectral = adapter(c0, c4, 4)
        self.skip_adapter_mid = adapter(c2, c4, 2)
        self.skip_adapter_deep = adapter(c3, c4, 1)
        self.fusion_conv = nn.Sequential(conv1x1(2 * c3, 2), nn.BatchNorm2d(2), nn.Sigmoid())
        if learned_fusion:
            self.fusion_conv2 = nn.Sequential(conv1x1(4 * c4, 4), nn.BatchNorm2d(4), nn.Sigmoid())
        self.block4 = nn.Sequential(
            MultiScaleBlockMS(c3, c3, groups=block4_groups), nn.BatchNorm2d(c3),
            *([nn.GELU()] if block4_gelu else []),
            WideBottleneckMS(c3, c4, widen=2), CBAMMS(c4), nn.Dropout(block4_dropout),
        )  # fmt: skip
        first = [eca_ms(c4), conv1x1(c4, 128), nn.BatchNorm2d(128)] if learned_fusion else [conv1x1(c4, 128)]
        self.classifier = nn.Sequential(*first, nn.GELU(), *head(128, num_classes, 0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spectral_mixer(x)
        low = self.block1(x)
        mid = self.block2(low)
        deep = self.block3(mid)
        a_low = self.skip_adapter(low)
        check_match(deep, a_low, type(self).__name__)
        w = self.fusion_conv(torch.cat([deep, a_low], dim=1))
        high = self.block4(w[:, 0:1] * deep + w[:, 1:2] * a_low)
        a_mid = self.skip_adapter_mid(mid)
        a_deep = self.skip_adapter_deep(deep)
        if not self.learned_fusion:
            # Parameter-free fusion: each source gated by sigmoid(channel mean + channel max), normalised.
            sources = (high, a_mid, a_deep)
            gates = [
                torch.sigmoid(s.mean(dim=1, keepdim=True) + s.amax(dim=1, keepdim=True)) for s in sources
            ]
            total = gates[0] + gates[1] + gates[2] + 1e-8
            return self.classifier(sum(g / total * s for g, s in zip(gates, sources)))
        a_spec = self.skip_adapter_spectral(x)
        w2 = self.fusion_conv2(torch.cat([high, a_mid, a_deep, a_spec], dim=1))
        fused = w2[:, 0:1] * high + w2[:, 1:2] * a_mid + w2[:, 2:3] * a_deep + w2[:, 3:4] * a_spec
        if self.normalise_fusion:
            fused = fused / (w2[:, 0:1] + w2[:, 1:2] + w2[:, 2:3] + w2[:, 3:4] + 1e-5)
        return self.classifier(fused)


class MultispectralV7(MultiSkipFusionNet):
    """V7 "Multi-Skip Fusion Network" (spec §3.7): channels 32/48/96/168/232, widen 2, progressive dropout,
    learned 2-way block-1 skip fusion and a parameter-free 3-way fusion after block 4. Published: 950,761.
    """

    def __init__(self, num_classes: int = MS_CLASSES, in_chans: int = 12) -> None:
        super().__init__(num_classes, in_chans, (32, 48, 96, 168, 232), learned_fusion=False)


class MultispectralV8(MultiSkipFusionNet):
    """V8 "Comprehensive Fusion Network" (spec §3.8): V7 plus mixer SpectralAttention, a mixer skip,
    a learned 4-way fusion after block 4 and an ECA + BN classifier. Published and measured: 962,328.
    """

    def __init__(self, num_classes: int = MS_CLASSES, in_chans: int = 12) -> None:
        super().__init__(num_classes, in_chans, (32, 48, 96, 168, 232), learned_fusion=True)


class MultispectralV9(MultiSkipFusionNet):
    """V9 "Optimised Fusion Network" (spec §3.9), a final-experiment model: channels 36/52/104/172/236,
    grouped (4) mixer 3×3 and block-4 fuse conv, BN in every skip adapter, GELU after block 4's
    MultiScaleBlock, dropout 0.15 there, fusion weights divided by their sum. Published: 939,604.
    """

    def __init__(self, num_classes: int = MS_CLASSES, in_chans: int = 12) -> None:
        super().__init__(
            num_classes, in_chans, (36, 52, 104, 172, 236), learned_fusion=True, mixer_groups=4,
            adapter_norm=True, block4_groups=4, block4_gelu=True, block4_dropout=0.15, normalise_fusion=True,
        )  # fmt: skip
