"""Receptive fields: hand-composed stacks, a published figure, and the n/a / global rules."""

from __future__ import annotations

import pytest
import torch.nn.functional as F
from torch import nn

from archlab.inspect import summarize


def _rf(model: nn.Module, size: tuple[int, ...]):
    return summarize(model, size, depth=1).receptive_field


def test_three_3x3_convs_see_7_pixels():
    net = nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=1) for _ in range(3)])
    rf = _rf(net, (2, 16, 16))
    assert rf.output == "7×7" and rf.output_stride == "1×1"


def test_stem_with_stride_and_pool():
    # 7×7/2 conv: r = 7, j = 2; then 3×3/2 max-pool: r = 7 + 2·2 = 11, j = 4.
    net = nn.Sequential(nn.Conv2d(3, 4, 7, stride=2, padding=3), nn.MaxPool2d(3, 2, padding=1))
    rf = _rf(net, (3, 64, 64))
    assert (rf.output, rf.output_stride) == ("11×11", "4×4")


def test_dilation_and_anisotropic_kernels():
    net = nn.Sequential(nn.Conv2d(1, 1, (3, 5), dilation=(2, 1)), nn.Conv2d(1, 1, 3))
    # Axis H: k' = 2·(3 − 1) + 1 = 5, then + 2 → 7. Axis W: 5, then + 2 → 7.
    assert _rf(net, (1, 20, 20)).output == "7×7"
    net = nn.Sequential(nn.Conv2d(1, 1, (1, 5)), nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3))
    # H: 1 → 3 → 3 + 2·2 = 7; W: 5 → 7 → 7 + 2·2 = 11.
    assert _rf(net, (1, 24, 24)).output == "7×11"


def test_vgg16_conv_stack_reaches_212_pixels():
    # Published figure (Araujo et al., Distill 2019): VGG-16's receptive field at pool5 is 212.
    cfg = [1, 1, "M", 1, 1, "M", 1, 1, 1, "M", 1, 1, 1, "M", 1, 1, 1, "M"]  # widths do not matter
    layers: list[nn.Module] = []
    for v in cfg:
        layers += [nn.MaxPool2d(2, 2)] if v == "M" else [nn.Conv2d(1, 1, 3, padding=1), nn.ReLU()]
    rf = _rf(nn.Sequential(*layers), (1, 224, 224))
    assert (rf.output, rf.output_stride) == ("212×212", "32×32")


def test_mnist_model1_receptive_field_is_32():
    import archlab

    # 3 → 5 → 5 (1×1) → pool 6 (j 2) → 10 → 14 → 18 → 22 → avg-pool 6: 22 + 5·2 = 32, j 12.
    rf = _rf(archlab.create_model("mnist_net1"), (1, 28, 28))
    assert (rf.output, rf.output_stride) == ("32×32", "12×12")


def test_resnet50_largest_field_is_427_and_its_output_is_global(resnet50_summary):
    # torchvision ResNet-50 (stride on the 3×3 conv): stem 11 (j 4); layer1 +3·2·4 = 35;
    # layer2 +2·4 then +3·2·8 = 91 (j 8); layer3 +16 then +5·32 = 267 (j 16);
    # layer4 +32 then +2·64 = 427 (j 32). Global average pooling then sees everything.
    rf = resnet50_summary.receptive_field
    assert (rf.largest, rf.largest_stride) == ("427×427", "32×32")
    assert rf.output == "global"
    rows = {r.name: r for r in resnet50_summary.rows}
    assert rows["layer1"].receptive_field == "35×35"
    assert rows["layer3"].receptive_field == "267×267" and rows["layer3"].stride == "16×16"


def test_attention_makes_the_field_global_and_interpolation_undefined():
    timm = pytest.importorskip("timm")
    vit = timm.create_model("vit_tiny_patch16_224", depth=1)
    s = summarize(vit, (3, 224, 224), depth=2)
    rows = {r.name: r for r in s.rows}
    assert rows["patch_embed.proj"].receptive_field == "16×16"
    assert rows["patch_embed"].receptive_field == "n/a"  # H×W flattened into tokens
    assert rows["blocks"].receptive_field == "global"  # attention mixes every token

    class Resample(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.conv(F.interpolate(x, size=(10, 10)))

    assert _rf(Resample(), (1, 12, 12)).output == "n/a"


def test_branches_meet_as_the_union_of_their_windows():
    class TwoPaths(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(1, 1, 5, padding=2)
            self.b = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return self.a(x) + self.b(x)

    assert _rf(TwoPaths(), (1, 9, 9)).output == "5×5"
