"""Convolution blocks: shapes on awkward inputs, closed-form parameter counts, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archlab.blocks import create_block
from archlab.blocks.conv import create_act, create_norm, group_count


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread avoids oversubscribing a shared CPU (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def out_size(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


def assert_grads_reach(m: nn.Module, x: torch.Tensor) -> None:
    m.train()
    out = m(x)
    (out * torch.randn_like(out)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


# Every channel pair at 1×1 and 7×7; one awkward pair at 120×120 (keeps the suite fast).
CASES = [(cin, cout, size) for cin, cout in [(1, 12), (3, 13), (12, 3), (13, 12)] for size in (1, 7)] + [
    (13, 3, 120)
]
SHAPE_BLOCKS = ["conv_norm_act", "dilated_conv", "dsconv", "dsconv_ms", "multiscale", "multiscale_dilated"]


@pytest.mark.parametrize("name", SHAPE_BLOCKS)
@pytest.mark.parametrize("cin,cout,size", CASES)
def test_block_shapes_on_awkward_inputs(name: str, cin: int, cout: int, size: int) -> None:
    torch.manual_seed(0)
    block = create_block(name, cin, cout).eval()
    y = block(torch.randn(1, cin, size, size))
    assert y.shape == (1, cout, size, size)


@pytest.mark.parametrize("name", ["conv_norm_act", "dsconv", "dsconv_ms", "multiscale"])
@pytest.mark.parametrize("size", [1, 7, 120])
def test_stride_two_halves_rounding_up(name: str, size: int) -> None:
    block = create_block(name, 3, 12, stride=2).eval()
    assert block(torch.randn(1, 3, size, size)).shape == (1, 12, out_size(size, 2), out_size(size, 2))


@pytest.mark.parametrize("channels,size", [(1, 1), (3, 7), (12, 7), (13, 1), (3, 120)])
def test_multiscale_ms_shapes(channels: int, size: int) -> None:
    block = create_block("multiscale_ms", channels, channels).eval()
    assert block(torch.randn(1, channels, size, size)).shape == (1, channels, size, size)


@pytest.mark.parametrize(
    "cin,cout,k,stride,groups,norm,act",
    [
        (12, 13, 3, 1, 1, "batch", "relu"),
        (12, 24, 5, 2, 4, "group", "gelu"),
        (13, 1, 1, 1, 1, "none", "silu"),
    ],
)
def test_conv_norm_act_params(
    cin: int, cout: int, k: int, stride: int, groups: int, norm: str, act: str
) -> None:
    block = create_block(
        "conv_norm_act", cin, cout, kernel_size=k, stride=stride, groups=groups, norm=norm, act=act
    )
    bias = cout if norm == "none" else 0
    norm_params = 0 if norm == "none" else 2 * cout
    assert n_params(block) == k * k * cin * cout // groups + bias + norm_params


def test_conv_norm_act_picks_norm_and_act() -> None:
    block = create_block("conv_norm_act", 8, 32, norm="group", act="hardswish")
    assert isinstance(block.norm, nn.GroupNorm) and block.norm.num_groups == 4
    assert isinstance(block.act, nn.Hardswish)
    assert block.conv.bias is None


@pytest.mark.parametrize(
    "channels,groups",
    [(8, 1), (16, 2), (32, 4), (64, 8), (128, 16), (256, 32), (12, 2), (13, 1), (36, 6), (1, 1), (100, 10)],
)
def test_group_count_follows_seed002_table_and_divides(channels: int, groups: int) -> None:
    assert group_count(channels) == groups
    assert channels % group_count(channels) == 0


def test_group_norm_with_bad_group_count_raises() -> None:
    with pytest.raises(ValueError, match="divisible by num_groups"):
        create_norm("group", 13, num_groups=4)


def test_unknown_activation_and_norm_suggest_close_names() -> None:
    with pytest.raises(ValueError, match="'relu'"):
        create_act("rleu")
    with pytest.raises(ValueError, match="'batch'"):
        create_norm("bacth", 8)


def test_conv_groups_not_dividing_channels_raise() -> None:
    with pytest.raises(ValueError, match="groups=4 must divide in_channels=13"):
        create_block("conv_norm_act", 13, 16, groups=4)


def test_dilated_conv_keeps_size_and_counts_like_conv() -> None:
    block = create_block("dilated_conv", 12, 13, dilation=3)
    assert block.conv.dilation == (3, 3) and block.conv.padding == (3, 3)
    assert n_params(block) == 9 * 12 * 13 + 2 * 13


@pytest.mark.parametrize("cin,cout,k", [(12, 13, 3), (3, 3, 5), (13, 1, 3)])
def test_dsconv_params(cin: int, cout: int, k: int) -> None:
    # MobileNet unit: depthwise k×k + BN, pointwise 1×1 + BN.
    assert (
        n_params(create_block("dsconv", cin, cout, kernel_size=k))
        == k * k * cin + 2 * cin + cin * cout + 2 * cout
    )


@pytest.mark.parametrize(
    "cin,cout,kwargs,expected",
    [
        (16, 32, {}, 1_232),  # spec §2.5 examples
        (64, 64, {}, 4_672),
        (48, 48, {"stride": 2}, 5_136),
        (512, 512, {"dilation": 2}, 266_752),  # V4 block 4
        (13, 13, {"bias": True}, 9 * 13 + 13 * 13 + 26),
        (3, 12, {"kernel_size": 5}, 25 * 3 + 36 + 36 + 24),
    ],
)
def test_dsconv_ms_params(cin: int, cout: int, kwargs: dict, expected: int) -> None:
    assert n_params(create_block("dsconv_ms", cin, cout, **kwargs)) == expected


def test_dsconv_ms_is_residual() -> None:
    torch.manual_seed(0)
    block = create_block("dsconv_ms", 12, 12).eval()
    x = torch.randn(2, 12, 7, 7)
    assert torch.allclose(block(x), block.pointwise(block.depthwise(x)) + x)


@pytest.mark.parametrize(
    "channels,groups,bias,expected",
    [(64, 1, False, 26_304), (128, 1, True, 102_656), (168, 1, False, 173_880), (172, 4, False, 115_584)],
)
def test_multiscale_ms_spec_examples(channels: int, groups: int, bias: bool, expected: int) -> None:
    block = create_block("multiscale_ms", channels, channels, groups=groups, bias=bias)
    assert n_params(block) == expected
    b = int(bias)
    assert (
        expected
        == 3 * (9 * channels + channels**2 + 2 * b * channels) + 3 * channels**2 // groups + b * channels
    )


def test_multiscale_ms_rejects_shape_change_and_bad_groups() -> None:
    with pytest.raises(ValueError, match="in_channels == out_channels"):
        create_block("multiscale_ms", 12, 24)
    with pytest.raises(ValueError, match="groups=5"):
        create_block("multiscale_ms", 12, 12, groups=5)


def test_multiscale_params_and_split() -> None:
    block = create_block("multiscale", 12, 13, kernel_sizes=(1, 3, 5))
    widths = [b.conv.out_channels for b in block.branches]
    assert widths == [5, 4, 4]
    assert n_params(block) == sum(k * k * 12 * w + 2 * w for k, w in zip((1, 3, 5), widths))


def test_multiscale_dilated_uses_dilations() -> None:
    block = create_block("multiscale_dilated", 12, 12, dilations=(1, 2, 4))
    assert [b.conv.dilation[0] for b in block.branches] == [1, 2, 4]
    assert [b.conv.padding[0] for b in block.branches] == [1, 2, 4]


def test_multiscale_errors() -> None:
    with pytest.raises(ValueError, match="cannot be split across 3 branches"):
        create_block("multiscale", 12, 2)
    with pytest.raises(ValueError, match="one dilation per kernel size"):
        create_block("multiscale", 12, 12, kernel_sizes=(1, 3), dilations=(1,))


@pytest.mark.parametrize("name", ["conv_norm_act", "dsconv", "dsconv_ms", "multiscale", "multiscale_ms"])
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    cout = 12 if name == "multiscale_ms" else 13
    assert_grads_reach(create_block(name, 12, cout), torch.randn(2, 12, 7, 7))


@pytest.mark.parametrize("name", ["conv_norm_act", "dsconv", "dsconv_ms", "multiscale", "multiscale_ms"])
def test_eval_mode_is_deterministic(name: str) -> None:
    torch.manual_seed(0)
    block = create_block(name, 12, 12).eval()
    x = torch.randn(2, 12, 7, 7)
    assert torch.equal(block(x), block(x))


def test_unknown_block_name_suggests_close_names() -> None:
    with pytest.raises(ValueError, match="dsconv"):
        create_block("dsconvv", 3, 3)
