"""Dense blocks: closed-form parameter counts, seed 002's figures, equality with torchvision's DenseNet-121."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from archlab.blocks import create_block
from archlab.blocks.dense import DenseBlock, DenseLayer, Transition

AWKWARD_CHANNELS = (1, 3, 12, 13)
AWKWARD_SIZES = (1, 7, 120)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def dense_block_params(cin: int, k: int, layers: int, bottleneck: int = 4) -> int:
    b = bottleneck * k
    per_layer = 2 * cin + cin * b + 2 * b + 9 * b * k
    return layers * per_layer + (2 + b) * k * layers * (layers - 1) // 2


@pytest.mark.parametrize("cin", AWKWARD_CHANNELS)
@pytest.mark.parametrize(("k", "layers", "bottleneck"), [(4, 1, 4), (12, 3, 4), (13, 2, 2), (32, 6, 4)])
@pytest.mark.parametrize("norm", ["group", "batch"])
def test_dense_block_parameters_match_closed_form(
    cin: int, k: int, layers: int, bottleneck: int, norm: str
) -> None:
    block = DenseBlock(cin, cin + layers * k, growth_rate=k, bottleneck=bottleneck, norm=norm)
    assert block.num_layers == layers
    assert n_params(block) == dense_block_params(cin, k, layers, bottleneck)
    b = bottleneck * k
    assert n_params(DenseLayer(cin, k, bottleneck, norm)) == 2 * cin + cin * b + 2 * b + 9 * b * k


def test_seed_002_figures() -> None:
    # HybridNet's dense block (64 channels, growth 32, 6 layers) and its transition 256 → 128.
    assert n_params(DenseBlock(64, 256, growth_rate=32, num_layers=6)) == 335_040
    assert n_params(Transition(256, 128)) == 2 * 256 + 256 * 128 + 128 == 33_408
    assert n_params(Transition(256, 128, act=True, bias=False)) == 33_280


def test_equals_torchvision_densenet121_block_and_transition() -> None:
    torch.manual_seed(0)
    ref = torchvision.models.densenet121().features
    mine = nn.Sequential(
        DenseBlock(64, 256, growth_rate=32, norm="batch"),
        Transition(256, 128, norm="batch", act=True, bias=False),
    )
    ref_part = nn.Sequential(ref.denseblock1, ref.transition1)
    d, s = mine.state_dict(), ref_part.state_dict()
    assert [v.shape for v in d.values()] == [v.shape for v in s.values()]
    mine.load_state_dict(dict(zip(d.keys(), s.values())))
    assert n_params(mine) == n_params(ref_part) == 335_040 + 33_280
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(mine.eval()(x), ref_part.eval()(x), rtol=0, atol=0)


@pytest.mark.parametrize("cin", AWKWARD_CHANNELS)
def test_shapes_for_awkward_inputs(cin: int) -> None:
    torch.manual_seed(0)
    block = DenseBlock(cin, cin + 2 * 4, growth_rate=4)  # GroupNorm: batch 1 works in train mode too
    trans = Transition(cin + 8, 3)
    for size in AWKWARD_SIZES:
        x = torch.randn(1, cin, size, size)
        if cin == 1 and size == 1:  # GroupNorm cannot normalise a group holding a single value
            with pytest.raises(ValueError, match="more than 1 value"):
                block(x)
            continue
        y = block(x)
        assert y.shape == (1, cin + 8, size, size)
        assert torch.equal(y[:, :cin], x)  # the input is passed through by concatenation
        if size >= 2:
            assert trans(y).shape == (1, 3, size // 2, size // 2)


def test_transition_rejects_maps_smaller_than_the_pool() -> None:
    with pytest.raises(ValueError, match=r"needs H, W ≥ 2, got \(1, 1\)"):
        Transition(8, 4)(torch.randn(1, 8, 1, 1))


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(DenseBlock(13, 13 + 3 * 12, growth_rate=12), Transition(49, 12, act=True))
    model(torch.randn(2, 13, 7, 7)).square().sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_eval_mode_is_deterministic() -> None:
    torch.manual_seed(0)
    block = DenseBlock(12, 36, growth_rate=12, drop_rate=0.5).eval()
    x = torch.randn(2, 12, 7, 7)
    assert torch.equal(block(x), block(x))
    block.train()
    assert not torch.equal(block(x), block(x))  # dropout is active in training


def test_created_by_name() -> None:
    assert create_block("dense_block", 64, 256).num_layers == 6  # growth rate 32 by default
    assert create_block("dense_layer", 64, 32)[-1].out_channels == 32
    assert create_block("dense_transition", 256, 128)[1].out_channels == 128


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: DenseBlock(64, 250, growth_rate=32), "pick out_channels=256 or pass num_layers"),
        (lambda: DenseBlock(64, 256, growth_rate=32, num_layers=5), "pass out_channels=224"),
        (lambda: DenseBlock(64, 64), "out_channels must be in_channels"),
        (lambda: DenseLayer(8, 4, norm="layer"), "norm must be 'group' or 'batch'"),
        (lambda: DenseLayer(8, 0), "positive in_channels"),
        (lambda: DenseLayer(8, 4, drop_rate=1.0), r"drop_rate must be in \[0, 1\)"),
    ],
)
def test_clear_errors(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
