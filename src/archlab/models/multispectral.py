"""Seed 000's multispectral land-cover CNNs: Custom V1–V9 and WRN-B4-ECA (BigEarthNet, 12 bands, 19 classes).

Built layer by layer from ``/work/shared/specs/multispectral_models.md`` §3; stage names
follow the original attributes (``spectral_mixer``, ``block1`` …). Every conv, norm and
linear is its own module, called once per forward, so torchinfo reproduces the published
mult-adds. The blocks are the spec's exact variants (the ``*_ms`` names in
``archlab.blocks``). Outputs are raw logits (multi-label: sigmoid + 0.5 threshold outside).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archlab.blocks.attention import CBAMMS, DualAttentionMS, coord_ms, eca_ms, se_ms, spectral_ms
from archlab.blocks.conv import DSConvMS, MultiScaleBlockMS
from archlab.blocks.residual import BasicBlock, Bottleneck, WideBasicBlockECAMS, WideBottleneckMS
from archlab.blocks.transformer import TransformerModule
from archlab.models.registry import register_model

MS_INPUT = (12, 120, 120)
MS_CLASSES = 19


def conv1x1(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, bias=False)


def conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=bias)


def head(cin: int, num_classes: int, dropout: float) -> list[nn.Module]:
    """GAP → Flatten → Dropout → Linear."""
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes)]


def check_match(a: torch.Tensor, b: torch.Tensor, model: str) -> None:
    """A skip path and the main path must meet at the same size (input H, W multiples of 8)."""
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(
            f"{model}: the skip path ({tuple(b.shape[-2:])}) and the main path ({tuple(a.shape[-2:])}) "
            f"do not meet; use an input whose height and width are multiples of 8 (e.g. 120×120)"
        )


class MultispectralV1(nn.Module):
    """V1 "Base Network" (spec §3.1): four conv-BN-ReLU stages with a ResidualBlock and one attention each.

    Attentions SpectralAttention-add, ECA, SE, DualAttention(k=3); stride 2 from stage 2;
    only the stage-2 stem conv has a bias. Published and measured: 1,975,770 parameters.
    """

    def __init__(self, num_classes: int = MS_CLASSES, in_chans: int = 12, dropout: float = 0.5) -> None:
        super().__init__()
        self.model = nn.Sequential(
            conv3x3(in_chans, 32), nn.BatchNorm2d(32), nn.ReLU(), BasicBlock(32, 32), spectral_ms(32),
            conv3x3(32, 64, 2, bias=True), nn.BatchNorm2d(64), nn.ReLU(), BasicBlock(64, 64), eca_ms(64),
            conv3x3(64, 128, 2), nn.BatchNorm2d(128), nn.ReLU(), BasicBlock(128, 128), se_ms(128),
            conv3x3(128, 256, 2), nn.BatchNorm2d(256), nn.ReLU(), BasicBlock(256, 256), DualAttentionMS(256, 3),
            *head(256, num_classes, dropout),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MultispectralV2(nn.Module):
    """V2 "Spectral Efficiency Network" (spec §3.2): 1×1 spectral mixing, residual DSConvs, MultiScaleBlocks.

    Adds CoordinateAttention (stage 1) and MultiScaleBlock-DS (stages 2, 3) to V1's plan;
    nothing downsamples, so all four stages run at full resolution. Published and
    measured: 1,804,410 parameters.
    """

    def __init__(self, num_classes: int = MS_CLASSES, in_chans: int = 12, dropout: float = 0.5) -> None:
        super().__init__()
        self.model = nn.Sequential(
            conv1x1(in_chans, 16), nn.BatchNorm2d(16), nn.ReLU(),
            DSConvMS(16, 32), nn.BatchNorm2d(32), nn.ReLU(), BasicBlock(32, 32), spectral_ms(32), coord_ms(32),
            DSConvMS(32, 64), nn.BatchNorm2d(64), nn.ReLU(), MultiScaleBlockMS(64, 64), BasicBlock(64, 64),
            eca_ms(64),
            DSConvMS(64, 128), nn.BatchNorm2d(128), nn.ReLU(), MultiScaleBlockMS(128, 128), BasicBlock(128, 128),
            se_ms(128),
            DSConvMS(128, 256), nn.BatchNorm2d(256), nn.ReLU(), BasicBlock(256, 256), DualAttentionMS(256, 3),
            *head(256, num_classes, dropout),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MultispectralV3(nn.Module):
    """V3 "Structured Skip Network" (spec §3.3): block-1 → block-4 skip and a transformer after block 3.

    ``batch_first_fix=False`` (default) keeps the original's sequence-first encoder, which
    attends across the images of a batch at each position; ``True`` attends across the
    positions of each image (same parameters). The original resizes the skip to a
    hard-coded 15×15, which is block 3's size at 120×120; here it follows block 3's size.
    Published and measured: 8,517,006 parameters.
    """

    def __init__(
        self,
        num_classes: int = MS_CLASSES,
        in_chans: int = 12,
        dropout: float = 0.1,
        batch_first_fix: bool = False,
    ) -> None:
        super().__init__()
        self.spectral_mixer = nn.Sequential(
            conv1x1(in_chans, 32), nn.BatchNorm2d(32), nn.GELU(), nn.MaxPool2d(2, 2)
        )
        self.block1 = nn.Sequential(
            DSConvMS(32, 64), nn.BatchNorm2d(64), nn.GELU(), BasicBlock(64, 64), spectral_ms(64), coord_ms(64)
        )
        self.block2 = nn.Sequential(
            DSConvMS(64, 128, stride=2), nn.BatchNorm2d(128), nn.GELU(),
            MultiScaleBlockMS(128, 128, bias=True), BasicBlock(128, 128), eca_ms(128),
        )  # fmt: skip
        self.block3 = nn.Sequential(
            DSConvMS(128, 256, stride=2), nn.BatchNorm2d(256), nn.GELU(),
            MultiScaleBlockMS(256, 256, bias=True), BasicBlock(256, 256), se_ms(256),
        )  # fmt: skip
        self.transformer_block = TransformerModule(
            256, num_heads=8, num_layers=1, dim_feedforward=2048, dropout=0.2, batch_first_fix=batch_first_fix
        )
        self.skip_adapter = conv1x1(64, 256)
        self.block4 = nn.Sequential(
            DSConvMS(256, 512, stride=2),
            nn.BatchNorm2d(512),
            nn.GELU(),
            BasicBlock(512, 512),
            DualAttentionMS(512, 7),
        )
        self.classifier = nn.Sequential(*head(512, num_classes, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.block1(self.spectral_mixer(x))
        deep = self.transformer_block(self.block3(self.block2(low)))
        skip = F.interpolate(
            self.skip_adapter(low), size=deep.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.classifier(self.block4(deep + skip))


class MultispectralV4(nn.Module):
    """V4 "High-Capacity Bottleneck Network" (spec §3.4): Bottleneck ×4 blocks, no transformer, dilated block 4.

    Skip block 1 → block 4 via 1×1 conv + 4×4 average pool; a 3×3 1024→1024 conv head
    holds ≈75 % of the weights. Published and measured: 12,650,898 parameters.
    """

    def __init__(self, num_classes: int = MS_CLASSES, in_chans: int = 12, dropout: float = 0.1) -> None:
        super().__init__()
        self.spectral_mixer = nn.Sequential(
            conv1x1(in_chans, 64), nn.BatchNorm2d(64), nn.GELU(), nn.MaxPool2d(2, 2)
        )
        self.block1 = nn.Sequential(
            DSConvMS(64, 64),
            nn.BatchNorm2d(64),
            nn.GELU(),
            Bottleneck(64, 128),
            spectral_ms(128),
            coord_ms(128),
        )
        self.block2 = nn.Sequential(
            DSConvMS(128, 128, stride=2), nn.BatchNorm2d(128), nn.GELU(),
            MultiScaleBlockMS(128, 128, bias=True), Bottleneck(128, 256), eca_ms(256),
        )  # fmt: skip
        self.block3 = nn.Sequential(
            DSConvMS(256, 256, stride=2), nn.BatchNorm2d(256), nn.GELU(),
            MultiScaleBlockMS(256, 256, bias=True), Bottleneck(256, 512), se_ms(512),
        )  # fmt: skip
        self.skip_adapter = nn.Sequential(conv1x1(128, 512), nn.AvgPool2d(4, 4))
        self.block4 = nn.Sequential(
            DSConvMS(512, 512, dilation=2), nn.BatchNorm2d(512), nn.GELU(),
            Bottleneck(512, 1024), DualAttentionMS(1024, 7),
        )  # fmt: skip
        self.classifier = nn.Sequential(conv3x3(1024, 1024), nn.GELU(), *head(1024, num_classes, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.block1(self.spectral_mixer(x))
        deep = self.block3(self.block2(low))
        skip = self.skip_adapter(low)
        check_match(deep, skip, "multispectral_v4")
        return self.classifier(self.block4(deep + skip))


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


class WRNB4ECA(nn.Module):
    """WRN-B4-ECA (spec §3.10), the baseline adapted from Papoutsis et al. (2023): a 3-stage wide ResNet
    of WideBasicBlockECA blocks, widths int(16, 32, 64 × 1.15 × 2.0736) = 38, 76, 152, no stem downsampling.

    Each block's ``bn2`` is built and idle (``apply_bn2=True`` applies it, as 25–27 March 2025).
    Conv weights: Kaiming-normal, fan_out, ReLU. Published and measured: 985,837 parameters
    (984,773 without the idle ``bn2`` layers).
    """

    def __init__(
        self, num_classes: int = MS_CLASSES, in_chans: int = 12, dropout: float = 0.3, apply_bn2: bool = False
    ) -> None:
        super().__init__()
        w1, w2, w3 = (int(base * 1.15 * 2.0736) for base in (16, 32, 64))

        def stage(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                WideBasicBlockECAMS(cin, cout, stride, dropout, apply_bn2),
                WideBasicBlockECAMS(cout, cout, 1, dropout, apply_bn2),
            )

        self.conv1 = conv3x3(in_chans, w1)
        self.bn1 = nn.BatchNorm2d(w1)
        self.relu = nn.ReLU()
        self.layer1 = stage(w1, w1, 1)
        self.layer2 = stage(w1, w2, 2)
        self.layer3 = stage(w2, w3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w3, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _register(name: str, section: str):
    return register_model(
        name,
        input_size=MS_INPUT,
        num_classes=MS_CLASSES,
        source=f"seed 000 (spec §{section})",
        task="multi_label",
    )


@_register("multispectral_v1", "3.1")
def multispectral_v1(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV1:
    """Custom V1, 1,975,770 parameters at 12×120×120 / 19 classes."""
    return MultispectralV1(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v2", "3.2")
def multispectral_v2(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV2:
    """Custom V2, 1,804,410 parameters."""
    return MultispectralV2(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v3", "3.3")
def multispectral_v3(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV3:
    """Custom V3, 8,517,006 parameters; sequence-first transformer as published (``batch_first_fix=True`` fixes it)."""
    return MultispectralV3(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v3_fixed", "3.3")
def multispectral_v3_fixed(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV3:
    """Custom V3 with the transformer attending across positions (batch-first); 8,517,006 parameters."""
    return MultispectralV3(num_classes=num_classes, in_chans=in_chans, batch_first_fix=True, **kwargs)


@_register("multispectral_v4", "3.4")
def multispectral_v4(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV4:
    """Custom V4, 12,650,898 parameters."""
    return MultispectralV4(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v5", "3.5")
def multispectral_v5(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV5:
    """Custom V5, 1,716,240 parameters."""
    return MultispectralV5(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v6", "3.6")
def multispectral_v6(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV6:
    """Custom V6, 2,048,528 parameters."""
    return MultispectralV6(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v7", "3.7")
def multispectral_v7(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV7:
    """Custom V7, 950,761 parameters."""
    return MultispectralV7(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v8", "3.8")
def multispectral_v8(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV8:
    """Custom V8, 962,328 parameters."""
    return MultispectralV8(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v9", "3.9")
def multispectral_v9(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV9:
    """Custom V9, 939,604 parameters."""
    return MultispectralV9(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("wrn_b4_eca", "3.10")
def wrn_b4_eca(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> WRNB4ECA:
    """WRN-B4-ECA, 985,837 parameters (including the idle ``bn2`` layers)."""
    return WRNB4ECA(num_classes=num_classes, in_chans=in_chans, **kwargs)
