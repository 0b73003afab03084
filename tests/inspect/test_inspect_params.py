"""Parameter totals: each tensor once, bare parameters included, trainable/frozen/buffers apart."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archlab.inspect import summarize, torchinfo_estimate, torchsummary_table


class TiedTokens(nn.Module):
    """An embedding-like encoder and a decoder sharing one weight, plus a bare class token."""

    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Linear(16, 32, bias=False)  # 512
        self.mix = nn.Linear(32, 32)  # 1,056
        self.decode = nn.Linear(16, 32, bias=False)
        self.decode.weight = self.encode.weight  # tied: the same tensor
        self.cls_token = nn.Parameter(torch.zeros(1, 32))  # 32, held by no layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(self.encode(x) + self.decode(x) + self.cls_token)


def test_tied_weights_count_once_and_a_bare_token_counts():
    s = summarize(TiedTokens(), (16,), batch_size=2)
    assert s.total_params == 16 * 32 + (32 * 32 + 32) + 32 == 1_600
    assert s.params_bytes == 1_600 * 4
    # torchinfo counts the tied weight twice and loses the bare token: 512 + 1,056 + 512.
    assert torchinfo_estimate(TiedTokens(), (16,), batch_size=2)["total_params"] == 2_080
    # torchsummary reads module.weight/bias only: the same double count, no token.
    assert "Total params: 2,080" in torchsummary_table(TiedTokens(), (16,))


def test_trainable_frozen_and_buffers_are_apart():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
    for p in net[0].parameters():
        p.requires_grad_(False)
    s = summarize(net, (3, 9, 9))
    assert s.frozen_params == 3 * 8 * 9 == 216
    assert s.trainable_params == 2 * 8 + 8 * 4 + 4 == 52
    assert s.total_params == 268
    assert s.buffer_elements == 8 + 8 + 1  # running mean, running var, num_batches_tracked
    # The first conv is frozen and sees the raw input: autograd keeps nothing for it.
    assert s.rows[0].activation_bytes == 0


def test_vit_class_token_and_position_embedding_count():
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", num_classes=10, depth=1)
    s = summarize(model, (3, 224, 224), depth=1)
    assert s.total_params == sum(p.numel() for p in model.parameters())
    rows = {r.name: r.params for r in s.rows}
    # The bare tokens (cls 192 + position 197·192) belong to the model itself, not to any row.
    assert s.total_params - sum(rows.values()) == 192 + 197 * 192
