"""Residual blocks: parameter counts against formulas and torchvision, shapes, drop-path, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import resnet

from archlab.blocks import create_attention, create_block
from archlab.blocks.attention import eca_kernel_size


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


NAMES = [
    "basic",
    "bottleneck",
    "wide_bottleneck",
    "se_basic",
    "se_bottleneck",
    "wide_bottleneck_ms",
    "wide_basic",
    "wide_basic_eca",
    "wide_basic_eca_ms",
]
# Output channels must suit each block: multiples of 4 (bottlenecks) and of widen=4.
CASES = [(1, 12, 1, 1), (3, 12, 7, 2), (13, 12, 7, 1), (12, 12, 1, 2), (13, 4, 120, 2)]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cin,cout,size,stride", CASES)
def test_shapes_on_awkward_inputs(name: str, cin: int, cout: int, size: int, stride: int) -> None:
    torch.manual_seed(0)
    block = create_block(name, cin, cout, stride=stride).eval()
    s = out_size(size, stride)
    assert block(torch.randn(1, cin, size, size)).shape == (1, cout, s, s)


def test_resnext_shape() -> None:
    block = create_block("resnext", 13, 64, stride=2).eval()
    assert block(torch.randn(1, 13, 7, 7)).shape == (1, 64, 4, 4)


# --- parameter counts -------------------------------------------------------------------------


def basic_params(cin: int, cout: int, projected: bool) -> int:
    return 9 * cin * cout + 9 * cout * cout + 4 * cout + (cin * cout + 2 * cout if projected else 0)


@pytest.mark.parametrize("cin,cout,stride", [(13, 13, 1), (3, 12, 1), (12, 12, 2), (32, 32, 1)])
def test_basic_params(cin: int, cout: int, stride: int) -> None:
    projected = stride != 1 or cin != cout
    assert n_params(create_block("basic", cin, cout, stride=stride)) == basic_params(cin, cout, projected)


@pytest.mark.parametrize("channels,expected", [(32, 18_560), (64, 73_984), (512, 4_720_640)])
def test_basic_is_spec_residual_block(channels: int, expected: int) -> None:
    assert n_params(create_block("basic", channels, channels)) == expected == 18 * channels**2 + 4 * channels


def tv_block(
    kind: str, cin: int, planes: int, stride: int = 1, groups: int = 1, base_width: int = 64
) -> nn.Module:
    """torchvision's own ResNet block, with the projection shortcut torchvision's ``_make_layer`` builds."""
    block_cls = resnet.BasicBlock if kind == "basic" else resnet.Bottleneck
    cout = planes * block_cls.expansion
    down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    if kind == "basic":
        return block_cls(cin, planes, stride, down)
    return block_cls(cin, planes, stride, down, groups=groups, base_width=base_width)


def test_basic_bottleneck_resnext_wide_match_torchvision() -> None:
    # ResNet-18 layer2[0], ResNet-50 layer1[0] / layer2[0], ResNeXt-50 32×4d layer1[0], WRN-50-2 layer1[0].
    assert (
        n_params(create_block("basic", 64, 128, stride=2))
        == n_params(tv_block("basic", 64, 128, 2))
        == 230_144
    )
    assert n_params(create_block("bottleneck", 64, 256)) == n_params(tv_block("bottleneck", 64, 64)) == 75_008
    assert n_params(create_block("bottleneck", 256, 512, stride=2)) == n_params(
        tv_block("bottleneck", 256, 128, 2)
    )
    assert (
        n_params(create_block("resnext", 64, 256))
        == n_params(tv_block("bottleneck", 64, 64, 1, 32, 4))
        == 63_488
    )
    wide = n_params(tv_block("bottleneck", 64, 64, base_width=128))
    assert n_params(create_block("wide_bottleneck", 64, 256)) == wide == 206_336


@pytest.mark.parametrize(
    "cin,planes,expected", [(64, 32, 24_192), (128, 64, 95_488), (256, 128, 379_392), (512, 256, 1_512_448)]
)
def test_bottleneck_spec_v4_params(cin: int, planes: int, expected: int) -> None:
    p = planes
    formula = cin * p + 13 * p * p + 12 * p + 4 * p * cin + 8 * p
    assert n_params(create_block("bottleneck", cin, 4 * p)) == expected == formula


@pytest.mark.parametrize("cin,cout,groups,base_width", [(13, 128, 32, 4), (12, 64, 4, 16)])
def test_resnext_params(cin: int, cout: int, groups: int, base_width: int) -> None:
    w = int(cout // 4 * base_width / 64) * groups
    formula = cin * w + 9 * w * w // groups + w * cout + 4 * w + 2 * cout + cin * cout + 2 * cout
    block = create_block("resnext", cin, cout, cardinality=groups, base_width=base_width)
    assert n_params(block) == formula


@pytest.mark.parametrize("name,base", [("se_basic", "basic"), ("se_bottleneck", "bottleneck")])
def test_se_resnet_blocks_add_an_se_gate(name: str, base: str) -> None:
    c = 64
    h = c // 16
    assert n_params(create_block(name, 32, c)) == n_params(create_block(base, 32, c)) + 2 * c * h + h + c


@pytest.mark.parametrize(
    "cin,cout,widen,expected",
    [
        (32, 64, 4, 16_288),  # spec §3.5–3.9 instances
        (64, 128, 4, 64_320),
        (128, 256, 4, 255_616),
        (256, 512, 4, 1_019_136),
        (32, 48, 2, 15_312),
        (48, 96, 2, 58_272),
        (96, 168, 2, 180_600),
        (168, 232, 2, 356_120),
        (36, 52, 2, 18_044),
        (52, 104, 2, 68_328),
        (104, 172, 2, 190_748),
        (172, 236, 2, 368_868),
    ],
)
def test_wide_bottleneck_ms_spec_params(cin: int, cout: int, widen: int, expected: int) -> None:
    p, w = cout // widen, cout
    formula = cin * p + 9 * p * w + w * w + 2 * p + 4 * w + cin * w + 2 * w
    assert n_params(create_block("wide_bottleneck_ms", cin, cout, widen=widen)) == expected == formula


@pytest.mark.parametrize("cin,cout,stride,expected", [(38, 38, 1, 26_147), (38, 76, 2, 81_323), (76, 76, 1, 104_275), (76, 152, 2, 324_373), (152, 152, 1, 416_485)])  # fmt: skip
def test_wide_basic_eca_ms_spec_params(cin: int, cout: int, stride: int, expected: int) -> None:
    k = 5 if cout == 152 else 3
    projected = cin != cout
    formula = 9 * cin * cout + 9 * cout * cout + 4 * cout + k + (cin * cout + 2 * cout if projected else 0)
    assert n_params(create_block("wide_basic_eca_ms", cin, cout, stride=stride)) == expected == formula


@pytest.mark.parametrize("cin,cout,stride", [(13, 13, 1), (16, 32, 2)])
def test_wide_basic_params(cin: int, cout: int, stride: int) -> None:
    projected = stride != 1 or cin != cout
    formula = 2 * cin + 9 * cin * cout + 2 * cout + 9 * cout * cout + (cin * cout if projected else 0)
    assert n_params(create_block("wide_basic", cin, cout, stride=stride)) == formula
    k = eca_kernel_size(cout)
    assert n_params(create_block("wide_basic_eca", cin, cout, stride=stride)) == formula + k


def test_attention_by_name_adds_its_parameters() -> None:
    block = create_block("wide_bottleneck", 32, 64, stride=2, attention="cbam")
    plain = create_block("wide_bottleneck", 32, 64, stride=2)
    assert n_params(block) == n_params(plain) + n_params(create_attention("cbam", 64))
    assert block.eval()(torch.randn(1, 32, 7, 7)).shape == (1, 64, 4, 4)


# --- behaviour --------------------------------------------------------------------------------


def test_wide_bottleneck_ms_drop_path_one_draw_per_sample() -> None:
    torch.manual_seed(0)
    block = create_block("wide_bottleneck_ms", 8, 16, widen=2, drop_path=1.0).train()
    x = torch.randn(4, 8, 5, 5)
    # Every sample dropped: the block is ReLU(shortcut).
    assert torch.allclose(block(x), block.relu(block.downsample(x)))
    block = create_block("wide_bottleneck_ms", 8, 16, widen=2, drop_path=0.5).train()
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        x = torch.randn(64, 8, 5, 5)
        branch = block.relu(block.bn1(block.conv1(x)))
        branch = block.bn3(block.conv3(block.relu(block.bn2(block.conv2(branch)))))
        full = block.relu(branch / 0.5 + block.downsample(x))
        dropped = block.relu(block.downsample(x))
        out = block(x)
    kept = [torch.allclose(out[i], full[i], atol=1e-5) for i in range(64)]
    gone = [torch.allclose(out[i], dropped[i]) for i in range(64)]
    assert all(k or g for k, g in zip(kept, gone))  # each sample is wholly kept (×2) or wholly dropped
    assert 10 < sum(kept) < 54


def test_wide_basic_eca_ms_bn2_is_idle_unless_asked() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 5)
    idle = create_block("wide_basic_eca_ms", 8, 8)
    idle(x).sum().backward()
    assert idle.bn2.weight.grad is None and idle.bn2.bias.grad is None
    assert idle.conv2.weight.grad is not None
    used = create_block("wide_basic_eca_ms", 8, 8, apply_bn2=True)
    used(x).sum().backward()
    assert used.bn2.weight.grad is not None
    assert n_params(idle) == n_params(used)


@pytest.mark.parametrize("name", ["basic", "bottleneck", "resnext", "se_bottleneck", "wide_bottleneck_ms", "wide_basic_eca"])  # fmt: skip
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    block = create_block(name, 12, 64, stride=2).train()
    out = block(torch.randn(2, 12, 7, 7))
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", ["basic", "wide_bottleneck_ms", "wide_basic", "wide_basic_eca_ms"])
def test_eval_mode_is_deterministic_train_mode_is_not(name: str) -> None:
    torch.manual_seed(0)
    block = create_block(name, 8, 16)
    x = torch.randn(8, 8, 5, 5)
    block.eval()
    assert torch.equal(block(x), block(x))
    if name != "basic":  # the others carry dropout or drop-path
        block.train()
        assert not torch.equal(block(x), block(x))


def test_group_norm_residual() -> None:
    block = create_block("basic", 13, 12, norm="group")
    assert isinstance(block.bn1, nn.GroupNorm) and block.bn1.num_groups == 2
    assert n_params(block) == basic_params(13, 12, projected=True)


@pytest.mark.parametrize(
    "name,cin,cout,kwargs,match",
    [
        ("bottleneck", 12, 13, {}, "multiple of expansion=4"),
        ("resnext", 12, 32, {}, "inner width"),
        ("wide_bottleneck_ms", 12, 13, {"widen": 4}, "multiple of 4"),
        ("basic", 12, 12, {"attention": "se_ms"}, "use channels >= 16"),
    ],
)
def test_impossible_shapes_raise(name: str, cin: int, cout: int, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_block(name, cin, cout, **kwargs)
