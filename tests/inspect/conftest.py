"""Fixtures of the inspect tests: seed 001's Model 3 as printed, and shared ResNet-50 measurements."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn


class SeedModel3(nn.Module):
    """Seed 001's Model 3 written as in the seed: skips through ``F.interpolate``, a functional gate."""

    def __init__(self, dropout: float = 0.03) -> None:
        super().__init__()

        def unit(cin: int, cout: int, padding: int = 0) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=padding, bias=False),
                nn.GELU(),
                nn.BatchNorm2d(cout),
                nn.Dropout(dropout),
            )

        self.convblock1 = unit(1, 10)
        self.convblock2 = unit(10, 14)
        self.convblock3 = nn.Sequential(nn.Conv2d(14, 10, 1, bias=False))
        self.pool1 = nn.MaxPool2d(2, 2)
        self.convblock4 = unit(10, 14)
        self.convblock5 = unit(14, 14)
        self.convblock6 = unit(14, 12)
        self.convblock7 = unit(12, 12, padding=1)
        self.gap = nn.Sequential(nn.AvgPool2d(kernel_size=6))
        self.convblock8 = nn.Sequential(nn.Conv2d(12, 10, 1, bias=False))
        self.skip1 = nn.Conv2d(10, 14, 1, bias=False)
        self.skip2 = nn.Conv2d(14, 12, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.convblock3(self.convblock2(self.convblock1(x))))
        x4 = self.convblock4(x)
        x4 = x4 + self.skip1(F.interpolate(x, size=(x4.shape[2], x4.shape[3])))
        x6 = self.convblock6(self.convblock5(x4))
        x6 = x6 + self.skip2(F.interpolate(x4, size=x6.shape[2:]))
        x7 = self.convblock7(x6)
        x7 = x7 * torch.sigmoid(F.adaptive_avg_pool2d(x7, 1))
        x = self.convblock8(self.gap(x7))
        return F.log_softmax(x.view(-1, 10), dim=-1)


@pytest.fixture
def seed_model3() -> nn.Module:
    torch.manual_seed(0)
    return SeedModel3()


@pytest.fixture(scope="session")
def resnet50_summary():
    """``summarize`` of torchvision's ResNet-50 at 1×3×224×224 fp32, measured once per session."""
    torchvision = pytest.importorskip("torchvision")
    from archlab.inspect import summarize

    torch.manual_seed(0)
    return summarize(torchvision.models.resnet50(), (3, 224, 224), depth=3)
