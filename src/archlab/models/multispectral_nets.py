"""Seed 000's single-path multispectral CNNs: Custom V1–V4 and WRN-B4-ECA, with the shared layer helpers.

Built layer by layer from ``/work/shared/specs/multispectral_models.md`` §3.1–3.4 and §3.10;
stage names follow the original attributes (``spectral_mixer``, ``block1`` …). The registered
names and the rest of the family are in :mod:`archlab.models.multispectral`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archlab.blocks.attention import DualAttentionMS, coord_ms, eca_ms, se_ms, spectral_ms
from archlab.blocks.conv import DSConvMS, MultiScaleBlockMS
from archlab.blocks.residual import BasicBlock, Bottleneck, WideBasicBlockECAMS
from archlab.blocks.transformer import TransformerModule

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
