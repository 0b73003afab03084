"""Mobile blocks: closed-form parameter counts, equality with torchvision/timm blocks, shapes, errors."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

from archlab.blocks import create_block
from archlab.blocks.mobile import InvertedResidual, MBConv, MobileNetV3Block, make_divisible

AWKWARD_CHANNELS = (1, 3, 12, 13)
AWKWARD_SIZES = (1, 7, 120)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def copy_weights(dst: nn.Module, src: nn.Module) -> None:
    """Load ``src``'s state into ``dst`` entry by entry (same order, same shapes, different names)."""
    d, s = dst.state_dict(), src.state_dict()
    assert [v.shape for v in d.values()] == [v.shape for v in s.values()]
    dst.load_state_dict(dict(zip(d.keys(), s.values())))


def assert_same_function(mine: nn.Module, ref: nn.Module, cin: int) -> None:
    copy_weights(mine, ref)
    mine.eval()
    ref.eval()
    x = torch.randn(2, cin, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(mine(x), ref(x), rtol=0, atol=0)


# Closed-form parameter counts (BatchNorm: 2 per channel; SE convs have biases).
def ir_params(cin: int, cout: int, t: float, k: int) -> int:
    h = round(cin * t)
    return (cin * h + 2 * h if t != 1 else 0) + k * k * h + 2 * h + h * cout + 2 * cout


def mbconv_params(cin: int, cout: int, t: float, k: int, se_ratio: float) -> int:
    h = round(cin * t)
    s = max(1, int(cin * se_ratio))
    se = 2 * h * s + s + h if se_ratio > 0 else 0
    return (cin * h + 2 * h if t != 1 else 0) + k * k * h + 2 * h + se + h * cout + 2 * cout


def v3_params(cin: int, cout: int, e: int, k: int, use_se: bool) -> int:
    s = make_divisible(e / 4, 8)
    se = 2 * e * s + s + e if use_se else 0
    return (cin * e + 2 * e if e != cin else 0) + k * k * e + 2 * e + se + e * cout + 2 * cout


@pytest.mark.parametrize(
    ("value", "expected"),
    [(16 / 4, 8), (72 / 4, 24), (88 / 4, 24), (184 / 4, 48), (100, 104), (3, 8), (960, 960)],
)
def test_make_divisible(value: float, expected: int) -> None:
    assert make_divisible(value, 8) == expected


@pytest.mark.parametrize("cin", AWKWARD_CHANNELS)
@pytest.mark.parametrize(("cout", "t", "k"), [(1, 1, 3), (13, 6, 3), (12, 4, 5), (3, 2.5, 7)])
def test_parameter_counts_match_closed_form(cin: int, cout: int, t: float, k: int) -> None:
    assert n_params(InvertedResidual(cin, cout, expand_ratio=t, kernel_size=k)) == ir_params(cin, cout, t, k)
    for ratio in (0.25, 0.0):
        got = n_params(MBConv(cin, cout, expand_ratio=t, kernel_size=k, se_ratio=ratio))
        assert got == mbconv_params(cin, cout, t, k, ratio)
    e = make_divisible(cin * t, 8)
    for use_se in (True, False):
        got = n_params(MobileNetV3Block(cin, cout, kernel_size=k, expand_ratio=t, use_se=use_se))
        assert got == v3_params(cin, cout, e, k, use_se)


def test_se_widths_follow_the_papers() -> None:
    # EfficientNet squeezes a quarter of the block *input*; MobileNetV3 a rounded quarter of the expansion.
    assert MBConv(16, 24, expand_ratio=6).block.se.reduce.out_channels == 4
    assert MBConv(13, 13).block.se.reduce.out_channels == 3
    assert MBConv(3, 3).block.se.reduce.out_channels == 1
    assert MobileNetV3Block(24, 40, expanded_channels=72).block.se.reduce.out_channels == 24
    assert MobileNetV3Block(16, 16, expanded_channels=16).block.se.reduce.out_channels == 8


def test_inverted_residual_equals_torchvision_mobilenet_v2_blocks() -> None:
    torch.manual_seed(0)
    ref_model = torchvision.models.mobilenet_v2()
    counts = []
    for ref in ref_model.features[1:-1]:
        convs = [m for m in ref.modules() if isinstance(m, nn.Conv2d)]
        dw = next(c for c in convs if c.groups > 1)
        cin, cout = convs[0].in_channels, convs[-1].out_channels
        mine = InvertedResidual(cin, cout, stride=dw.stride[0], expand_ratio=dw.in_channels / cin)
        assert n_params(mine) == n_params(ref) == ir_params(cin, cout, dw.in_channels / cin, 3)
        assert mine.use_residual == ref.use_res_connect
        assert_same_function(mine, ref, cin)
        counts.append(n_params(mine))
    assert len(counts) == 17 and counts[0] == 896 and counts[-1] == 473_920


def test_mbconv_equals_timm_efficientnet_b0_blocks() -> None:
    torch.manual_seed(0)
    ref_model = timm.create_model("efficientnet_b0")
    counts = []
    for stage in ref_model.blocks:
        for ref in stage:
            dw = ref.conv_dw
            if hasattr(ref, "conv_pwl"):  # timm's InvertedResidual (t > 1)
                cin, cout = ref.conv_pw.in_channels, ref.conv_pwl.out_channels
            else:  # timm's DepthwiseSeparableConv (t = 1)
                cin, cout = dw.in_channels, ref.conv_pw.out_channels
            t, k = dw.in_channels / cin, dw.kernel_size[0]
            mine = MBConv(cin, cout, stride=dw.stride[0], expand_ratio=t, kernel_size=k)
            assert n_params(mine) == n_params(ref) == mbconv_params(cin, cout, t, k, 0.25)
            assert_same_function(mine, ref, cin)
            counts.append(n_params(mine))
    assert len(counts) == 16 and counts[0] == 1448 and counts[-1] == 717_232


@pytest.mark.parametrize(("arch", "n_blocks"), [("mobilenet_v3_small", 11), ("mobilenet_v3_large", 15)])
def test_mobilenetv3_block_equals_torchvision_blocks(arch: str, n_blocks: int) -> None:
    torch.manual_seed(0)
    ref_model = getattr(torchvision.models, arch)()
    blocks = list(ref_model.features[1:-1])
    assert len(blocks) == n_blocks
    for ref in blocks:
        convs = [m for m in ref.block.modules() if isinstance(m, nn.Conv2d)]
        dw = next(c for c in convs if c.groups > 1)
        cin, cout, e = convs[0].in_channels, convs[-1].out_channels, dw.in_channels
        use_se = any(isinstance(m, nn.Hardsigmoid) for m in ref.modules())
        act = "hardswish" if any(isinstance(m, nn.Hardswish) for m in ref.modules()) else "relu"
        eps = next(m for m in ref.modules() if isinstance(m, nn.BatchNorm2d)).eps
        mine = MobileNetV3Block(
            cin, cout, stride=dw.stride[0], kernel_size=dw.kernel_size[0], expanded_channels=e,
            use_se=use_se, act=act, bn_eps=eps,
        )  # fmt: skip
        assert n_params(mine) == n_params(ref) == v3_params(cin, cout, e, dw.kernel_size[0], use_se)
        assert_same_function(mine, ref, cin)


def _blocks(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [
        InvertedResidual(cin, cout, stride=stride),
        MBConv(cin, cout, stride=stride, kernel_size=5),
        MobileNetV3Block(cin, cout, stride=stride),
    ]


@pytest.mark.parametrize("cin", AWKWARD_CHANNELS)
@pytest.mark.parametrize("stride", [1, 2])
def test_output_shapes_for_awkward_inputs(cin: int, stride: int) -> None:
    torch.manual_seed(0)
    cout = 13 if cin != 13 else 12
    for block in [*_blocks(cin, cout, stride), *_blocks(cin, cin, stride)]:
        block.eval()  # batch 1 at 1×1 is fine for BatchNorm in eval mode only
        out_ch = block.block.project[0].out_channels
        for size in AWKWARD_SIZES:
            x = torch.randn(1, cin, size, size)
            expected = (size + 1) // 2 if stride == 2 else size
            assert block(x).shape == (1, out_ch, expected, expected)


def test_residual_only_when_shape_is_kept() -> None:
    # Zero the projection's BatchNorm: the branch outputs 0, so the block returns x or 0.
    x = torch.randn(2, 12, 7, 7)
    for block in [*_blocks(12, 12, 1), *_blocks(12, 12, 2), *_blocks(12, 13, 1)]:
        nn.init.zeros_(block.block.project[1].weight)
        nn.init.zeros_(block.block.project[1].bias)
        block.eval()
        out = block(x)
        if block.use_residual:
            assert torch.equal(out, x)
        else:
            assert torch.count_nonzero(out) == 0
    assert [b.use_residual for b in _blocks(12, 12, 1)] == [True, True, True]


def test_stochastic_depth_drops_whole_samples_and_rescales() -> None:
    torch.manual_seed(0)
    p = 0.5
    block = MBConv(8, 8, drop_path=p).train()
    x = torch.randn(64, 8, 5, 5)
    branch = block.block(x)  # train-mode BatchNorm: same batch, same output
    out = block(x)
    dropped = [torch.allclose(out[i], x[i]) for i in range(64)]
    kept = [torch.allclose(out[i], x[i] + branch[i] / (1 - p), atol=1e-6) for i in range(64)]
    assert all(d or k for d, k in zip(dropped, kept))
    assert 10 < sum(dropped) < 54  # Bernoulli(0.5) over 64 samples
    block.eval()
    torch.testing.assert_close(block(x), x + block.block(x), rtol=0, atol=0)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    blocks = [
        InvertedResidual(13, 13, attention="multiscale_attention"),
        MBConv(13, 12, stride=2, attention="multiscale_attention"),
        MobileNetV3Block(3, 3, expanded_channels=16, attention="multiscale_attention"),
    ]
    for block in blocks:
        cin = block.block[0][0].in_channels
        block.train()(torch.randn(2, cin, 7, 7)).square().sum().backward()
        missing = [n for n, p in block.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert missing == []


def test_eval_mode_is_deterministic() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 12, 7, 7)
    for block in [*_blocks(12, 12, 1), MBConv(12, 12, drop_path=0.3)]:
        block.eval()
        assert torch.equal(block(x), block(x))


def test_created_by_name_with_attention() -> None:
    block = create_block("mbconv", 16, 24, stride=2, attention="multiscale_attention")
    assert isinstance(block, MBConv)
    assert type(block.block.attention).__name__ == "MultiScaleAttention"
    assert isinstance(create_block("inverted_residual", 3, 8), InvertedResidual)
    assert isinstance(create_block("mobilenetv3_block", 3, 8), MobileNetV3Block)
    assert isinstance(create_block("mbconv", 3, 8).block.attention, nn.Identity)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: InvertedResidual(8, 8, stride=3), "stride must be 1 or 2"),
        (lambda: MBConv(8, 8, kernel_size=4), "kernel_size must be odd"),
        (lambda: MBConv(8, 8, drop_path=1.0), r"drop_path must be in \[0, 1\)"),
        (lambda: MBConv(8, 8, act="swsh"), "did you mean 'swish'"),
        (lambda: MobileNetV3Block(0, 8), "positive channel counts"),
        (lambda: InvertedResidual(8, 8, expand_ratio=0.01), "hidden channels"),
        (lambda: MBConv(8, 8, attention="multiscale_atention"), "did you mean .multiscale_attention."),
    ],
)
def test_clear_errors(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
