"""The MNIST models of seed 001 (Model 1, 2, 3) and the small default CNN for digits.

The seed's networks end in ``log_softmax``; here they return raw logits by default
(``log_softmax=True`` restores the seed's output), so every model in the zoo
trains with the same cross-entropy. ``log_softmax`` is idempotent on its own
output, so the loss values are identical either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archlab.blocks.attention import GlobalAvgSigmoidGate
from archlab.models.registry import register_model

MNIST_INPUT = (1, 28, 28)


def conv_act_bn(cin: int, cout: int, act: type[nn.Module], dropout: float, padding: int = 0) -> nn.Sequential:
    """Seed 001's unit: 3×3 conv (no bias) → activation → BatchNorm → Dropout."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, padding=padding, bias=False),
        act(),
        nn.BatchNorm2d(cout),
        nn.Dropout(dropout),
    )


def conv1x1(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=1, bias=False))


class _SeedNet(nn.Module):
    """Shared tail of the seed nets: flatten the 1×1 map of class scores."""

    log_softmax: bool

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return F.log_softmax(x, dim=-1) if self.log_softmax else x


class MnistNet1(_SeedNet):
    """Seed 001 Model 1: 7 conv blocks, ReLU, dropout 0.1 — 13,808 parameters at 1×28×28."""

    def __init__(
        self, num_classes: int = 10, in_chans: int = 1, dropout: float = 0.1, log_softmax: bool = False
    ):
        super().__init__()
        self.log_softmax = log_softmax
        self.convblock1 = conv_act_bn(in_chans, 16, nn.ReLU, dropout)
        self.convblock2 = conv_act_bn(16, 32, nn.ReLU, dropout)
        self.convblock3 = conv1x1(32, 10)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.convblock4 = conv_act_bn(10, 16, nn.ReLU, dropout)
        self.convblock5 = conv_act_bn(16, 16, nn.ReLU, dropout)
        self.convblock6 = conv_act_bn(16, 16, nn.ReLU, dropout)
        self.convblock7 = conv_act_bn(16, 16, nn.ReLU, dropout, padding=1)
        self.gap = nn.Sequential(nn.AvgPool2d(kernel_size=6))
        self.convblock8 = conv1x1(16, num_classes)
        # The seed constructs this dropout and never applies it (no parameters).
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.convblock3(self.convblock2(self.convblock1(x))))
        x = self.convblock7(self.convblock6(self.convblock5(self.convblock4(x))))
        return self._out(self.convblock8(self.gap(x)))


class MnistNet2(_SeedNet):
    """Seed 001 Model 2: fewer filters, GAP over 8×8 — 5,048 parameters at 1×28×28."""

    def __init__(
        self, num_classes: int = 10, in_chans: int = 1, dropout: float = 0.1, log_softmax: bool = False
    ):
        super().__init__()
        self.log_softmax = log_softmax
        self.convblock1 = conv_act_bn(in_chans, 8, nn.ReLU, dropout)
        self.convblock2 = conv_act_bn(8, 16, nn.ReLU, dropout)
        self.convblock3 = conv1x1(16, 8)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.convblock4 = conv_act_bn(8, 12, nn.ReLU, dropout)
        self.convblock5 = conv_act_bn(12, 12, nn.ReLU, dropout)
        self.convblock6 = conv_act_bn(12, 12, nn.ReLU, dropout, padding=1)
        self.gap = nn.Sequential(nn.AvgPool2d(kernel_size=8))
        self.convblock7 = conv1x1(12, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.convblock3(self.convblock2(self.convblock1(x))))
        x = self.convblock6(self.convblock5(self.convblock4(x)))
        return self._out(self.convblock7(self.gap(x)))


class MnistNet3(_SeedNet):
    """Seed 001 Model 3: GELU, two 1×1 skip projections, a GAP-sigmoid gate — 7,902 parameters.

    The skips add a nearest-resized copy of an earlier map, projected by a 1×1 conv,
    exactly as the seed's ``F.interpolate`` does.
    """

    def __init__(
        self, num_classes: int = 10, in_chans: int = 1, dropout: float = 0.03, log_softmax: bool = False
    ):
        super().__init__()
        self.log_softmax = log_softmax
        self.convblock1 = conv_act_bn(in_chans, 10, nn.GELU, dropout)
        self.convblock2 = conv_act_bn(10, 14, nn.GELU, dropout)
        self.convblock3 = conv1x1(14, 10)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.convblock4 = conv_act_bn(10, 14, nn.GELU, dropout)
        self.convblock5 = conv_act_bn(14, 14, nn.GELU, dropout)
        self.convblock6 = conv_act_bn(14, 12, nn.GELU, dropout)
        self.convblock7 = conv_act_bn(12, 12, nn.GELU, dropout, padding=1)
        self.gap = nn.Sequential(nn.AvgPool2d(kernel_size=6))
        self.convblock8 = conv1x1(12, num_classes)
        self.skip1 = nn.Conv2d(10, 14, kernel_size=1, bias=False)
        self.skip2 = nn.Conv2d(14, 12, kernel_size=1, bias=False)
        self.gate = GlobalAvgSigmoidGate(12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.convblock3(self.convblock2(self.convblock1(x))))
        x4 = self.convblock4(x)
        x4 = x4 + self.skip1(F.interpolate(x, size=x4.shape[2:]))
        x6 = self.convblock6(self.convblock5(x4))
        x6 = x6 + self.skip2(F.interpolate(x4, size=x6.shape[2:]))
        x7 = self.gate(self.convblock7(x6))
        return self._out(self.convblock8(self.gap(x7)))


class DigitsCNN(nn.Module):
    """The default small CNN for 8×8 digits: two 3×3 stages, max-pool, GAP, linear head."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, width: int = 32, dropout: float = 0.1):
        super().__init__()

        def unit(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
            )

        self.features = nn.Sequential(
            unit(in_chans, width),
            unit(width, width),
            nn.MaxPool2d(2),
            unit(width, 2 * width),
            unit(2 * width, 2 * width),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model("mnist_net1", input_size=MNIST_INPUT, num_classes=10, source="seed 001 (Model 1)")
def mnist_net1(num_classes: int = 10, in_chans: int = 1, **kwargs) -> MnistNet1:
    return MnistNet1(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model("mnist_net2", input_size=MNIST_INPUT, num_classes=10, source="seed 001 (Model 2)")
def mnist_net2(num_classes: int = 10, in_chans: int = 1, **kwargs) -> MnistNet2:
    return MnistNet2(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model("mnist_net3", input_size=MNIST_INPUT, num_classes=10, source="seed 001 (Model 3)")
def mnist_net3(num_classes: int = 10, in_chans: int = 1, **kwargs) -> MnistNet3:
    return MnistNet3(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model("digits_cnn", input_size=(1, 8, 8), num_classes=10, source="archlab (default for digits)")
def digits_cnn(num_classes: int = 10, in_chans: int = 1, **kwargs) -> DigitsCNN:
    return DigitsCNN(num_classes=num_classes, in_chans=in_chans, **kwargs)
