"""Seed 002's blocks: the GroupNorm group rule, the GroupNorm residual block, the multi-scale attention."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archlab.blocks import create_attention, create_block
from archlab.blocks.hybrid import GNResidualBlock, MultiScaleAttention, gn_groups, group_norm

AWKWARD_CHANNELS = (1, 3, 12, 13)
AWKWARD_SIZES = (1, 7, 120)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def residual_params(cin: int, cout: int, stride: int) -> int:
    projection = cin * cout + 2 * cout if stride != 1 or cin != cout else 0
    return 9 * cin * cout + 9 * cout * cout + 4 * cout + projection


def msa_params(c: int, reduction: int = 16, k: int = 7) -> int:
    h = max(1, c // reduction)
    return 2 * c * h + h + c + 2 * k * k + 1


@pytest.mark.parametrize(
    ("channels", "groups"),
    # The seed's rule where it divides; otherwise the largest divisor below it.
    [(1, 1), (3, 1), (8, 1), (9, 1), (12, 2), (13, 1), (16, 2), (24, 4), (32, 4), (48, 8), (64, 8),
     (96, 16), (100, 10), (128, 16), (160, 32), (224, 32), (256, 32), (512, 32), (1000, 25)],
)  # fmt: skip
def test_gn_groups(channels: int, groups: int) -> None:
    assert gn_groups(channels) == groups
    assert channels % gn_groups(channels) == 0


def test_group_norm_checks_divisibility() -> None:
    assert group_norm(12).num_groups == 2
    assert group_norm(12, groups=3).num_groups == 3
    with pytest.raises(
        ValueError, match="groups must divide the channel count: got groups=5 for 12 channels"
    ):
        group_norm(12, groups=5)
    with pytest.raises(ValueError, match="at least 1 channel"):
        gn_groups(0)


@pytest.mark.parametrize("cin", AWKWARD_CHANNELS)
@pytest.mark.parametrize("cout", AWKWARD_CHANNELS)
@pytest.mark.parametrize("stride", [1, 2])
def test_residual_parameters_match_closed_form(cin: int, cout: int, stride: int) -> None:
    assert n_params(GNResidualBlock(cin, cout, stride=stride)) == residual_params(cin, cout, stride)


def test_residual_seed_002_stage_figures() -> None:
    counts = [
        n_params(GNResidualBlock(128, 128)),
        n_params(GNResidualBlock(128, 256, stride=2)),
        n_params(GNResidualBlock(256, 512, stride=2)),
    ]
    assert counts == [295_424, 919_040, 3_673_088]
    assert sum(counts) == 4_887_552  # HybridNet's res_blocks
    block = GNResidualBlock(256, 512, stride=2)
    assert [block.gn1.num_groups, block.shortcut[1].num_groups] == [32, 32]


@pytest.mark.parametrize("cin", AWKWARD_CHANNELS)
def test_residual_shapes_for_awkward_inputs(cin: int) -> None:
    torch.manual_seed(0)
    for cout in (3, 13):  # GroupNorm needs > 1 value per group, so no 1-channel output at 1×1
        for stride in (1, 2):
            block = GNResidualBlock(
                cin, cout, stride=stride, attention="multiscale_attention" if stride == 2 else None
            )
            for size in AWKWARD_SIZES:
                y = block(torch.randn(1, cin, size, size))
                expected = (size + 1) // 2 if stride == 2 else size
                assert y.shape == (1, cout, expected, expected)
                assert y.min() >= 0  # ends in ReLU


def test_residual_identity_shortcut_passes_input() -> None:
    # With the second GroupNorm zeroed the branch is 0: identity → relu(x), projection → relu(gn(conv x)).
    block = GNResidualBlock(12, 12)
    nn.init.zeros_(block.gn2.weight)
    x = torch.randn(2, 12, 7, 7)
    assert len(block.shortcut) == 0
    torch.testing.assert_close(block(x), torch.relu(x), rtol=0, atol=0)


def test_residual_with_attention_adds_its_parameters() -> None:
    plain = n_params(GNResidualBlock(64, 64))
    assert n_params(GNResidualBlock(64, 64, attention="multiscale_attention")) == plain + msa_params(64)


@pytest.mark.parametrize("channels", [1, 3, 12, 13, 16, 64, 512])
def test_msa_parameters_match_closed_form(channels: int) -> None:
    assert n_params(MultiScaleAttention(channels)) == msa_params(channels)


def test_msa_seed_figure() -> None:
    assert n_params(MultiScaleAttention(512)) == 33_411
    assert n_params(create_attention("multiscale_attention", 512)) == 33_411


def test_msa_hand_computed() -> None:
    # Zero weights and biases: both gates are sigmoid(0) = 1/2, so the output is x / 4.
    att = MultiScaleAttention(13)
    for p in att.parameters():
        nn.init.zeros_(p)
    x = torch.randn(2, 13, 7, 7)
    torch.testing.assert_close(att(x), x / 4)


@pytest.mark.parametrize("channels", AWKWARD_CHANNELS)
def test_msa_shapes_and_gating(channels: int) -> None:
    torch.manual_seed(0)
    att = create_attention("multiscale_attention", channels)
    for size in AWKWARD_SIZES:
        x = torch.randn(1, channels, size, size)
        y = att(x)
        assert y.shape == x.shape
        assert torch.all(y.abs() <= x.abs())  # two gates in (0, 1)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        GNResidualBlock(3, 13, stride=2, attention="multiscale_attention"), MultiScaleAttention(13)
    )
    model(torch.randn(1, 3, 7, 7)).square().sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_eval_mode_is_deterministic() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(GNResidualBlock(12, 12), MultiScaleAttention(12)).eval()
    x = torch.randn(2, 12, 7, 7)
    assert torch.equal(model(x), model(x))


def test_created_by_name() -> None:
    block = create_block("gn_residual", 64, 128, stride=2)
    assert isinstance(block, GNResidualBlock)
    assert block(torch.randn(1, 64, 8, 8)).shape == (1, 128, 4, 4)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GNResidualBlock(8, 12, groups=5), "groups must divide the channel count"),
        (lambda: GNResidualBlock(8, 12, stride=3), "stride must be 1 or 2"),
        (lambda: MultiScaleAttention(8, spatial_kernel=4), "spatial_kernel must be odd"),
        (lambda: MultiScaleAttention(0), "channels ≥ 1"),
    ],
)
def test_clear_errors(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
