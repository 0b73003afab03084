"""Attention modules: registry contract, closed-form parameter counts, behaviour, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from archlab.blocks import create_attention
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


# Paper variants and the spec variants that accept any channel count.
ANY_CHANNELS = [
    "gap_gate",
    "se",
    "eca",
    "eca_ms",
    "spectral",
    "spatial",
    "cbam",
    "cbam_ms",
    "coord",
    "coord_ms",
]
# Spec variants whose hidden width ⌊C/16⌋ has no lower bound: they need C ≥ 16.
AT_LEAST_16 = ["se_ms", "spectral_ms", "dual_ms"]


@pytest.mark.parametrize("name", ANY_CHANNELS + ["dual"])
@pytest.mark.parametrize("channels,size", [(1, 1), (3, 7), (12, 1), (13, 7)])
def test_shape_kept_on_awkward_inputs(name: str, channels: int, size: int) -> None:
    torch.manual_seed(0)
    m = create_attention(name, channels).eval()
    assert m(torch.randn(1, channels, size, size)).shape == (1, channels, size, size)


@pytest.mark.parametrize("name", ANY_CHANNELS)
def test_shape_kept_at_120(name: str) -> None:
    m = create_attention(name, 13).eval()
    assert m(torch.randn(1, 13, 120, 120)).shape == (1, 13, 120, 120)


@pytest.mark.parametrize("name", AT_LEAST_16)
@pytest.mark.parametrize("channels,size", [(16, 1), (17, 7), (16, 120)])
def test_spec_variants_shapes(name: str, channels: int, size: int) -> None:
    m = create_attention(name, channels).eval()
    assert m(torch.randn(1, channels, size, size)).shape == (1, channels, size, size)


@pytest.mark.parametrize("name", AT_LEAST_16)
@pytest.mark.parametrize("channels", [1, 3, 12, 13])
def test_spec_variants_reject_fewer_than_16_channels(name: str, channels: int) -> None:
    with pytest.raises(ValueError, match="use channels >= 16"):
        create_attention(name, channels)


def test_none_gives_identity_and_unknown_name_suggests() -> None:
    assert isinstance(create_attention(None, 8), nn.Identity)
    assert isinstance(create_attention("none", 8), nn.Identity)
    with pytest.raises(ValueError, match="'eca'"):
        create_attention("ecaa", 8)


# --- parameter counts -------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 13, 64, 200])
def test_se_paper_params(channels: int) -> None:
    h = max(1, channels // 16)
    assert n_params(create_attention("se", channels)) == 2 * channels * h + h + channels


@pytest.mark.parametrize(
    "channels,expected", [(128, 2_048), (168, 3_360), (172, 3_440), (256, 8_192), (512, 32_768)]
)
def test_se_ms_spec_params(channels: int, expected: int) -> None:
    m = create_attention("se_ms", channels)
    assert n_params(m) == expected == 2 * channels * (channels // 16)
    assert any(isinstance(x, nn.Dropout) and x.p == 0.1 for x in m.modules())


@pytest.mark.parametrize(
    "channels,k", [(1, 1), (3, 1), (38, 3), (64, 3), (76, 3), (96, 3), (104, 3), (128, 5), (152, 5), (232, 5)]
)
def test_eca_kernel_size(channels: int, k: int) -> None:
    assert eca_kernel_size(channels) == k
    assert n_params(create_attention("eca", channels)) == k
    assert n_params(create_attention("eca_ms", channels)) == k


def test_eca_ms_uses_fan_out_normal_init() -> None:
    # Kaiming-normal, fan_out, gain 1 on a (1, 1, 5) weight: std 1/√5 ≈ 0.447;
    # PyTorch's default (uniform, bound 1/√5) has std 0.258.
    torch.manual_seed(0)
    ms = torch.cat([create_attention("eca_ms", 128).conv.weight.flatten() for _ in range(400)])
    paper = torch.cat([create_attention("eca", 128).conv.weight.flatten() for _ in range(400)])
    assert abs(ms.std().item() - 1 / math.sqrt(5)) < 0.03
    assert abs(paper.std().item() - 1 / math.sqrt(5) / math.sqrt(3)) < 0.02


@pytest.mark.parametrize(
    "channels,expected", [(32, 162), (36, 182), (48, 339), (52, 367), (64, 580), (128, 2_184)]
)
def test_spectral_ms_spec_params(channels: int, expected: int) -> None:
    h = channels // 16
    assert n_params(create_attention("spectral_ms", channels)) == expected == 2 * channels * h + h + channels


@pytest.mark.parametrize("channels", [3, 13])
def test_spectral_paper_params(channels: int) -> None:
    assert n_params(create_attention("spectral", channels)) == 2 * channels + 1 + channels


@pytest.mark.parametrize("k", [3, 5, 7])
def test_spatial_params(k: int) -> None:
    assert n_params(create_attention("spatial", 13, kernel_size=k)) == 2 * k * k


@pytest.mark.parametrize("channels,k,expected", [(256, 3, 8_482), (512, 7, 33_410), (1024, 7, 132_258)])
def test_dual_ms_spec_params(channels: int, k: int, expected: int) -> None:
    h = channels // 16
    m = create_attention("dual_ms", channels, kernel_size=k)
    assert n_params(m) == expected == 2 * channels * h + h + channels + 2 * k * k


@pytest.mark.parametrize("channels", [1, 13, 64])
def test_dual_paper_params(channels: int) -> None:
    q = max(1, channels // 8)
    assert n_params(create_attention("dual", channels)) == 2 * (channels * q + q) + channels**2 + channels + 2


@pytest.mark.parametrize(
    "channels,expected", [(32, 784), (48, 1_168), (52, 1_264), (64, 1_552), (128, 3_088)]
)
def test_coord_ms_spec_params(channels: int, expected: int) -> None:
    m = max(8, channels // 16)
    assert n_params(create_attention("coord_ms", channels)) == expected == 3 * channels * m + 2 * m


@pytest.mark.parametrize("channels", [3, 13, 512])
def test_coord_paper_params(channels: int) -> None:
    m = max(8, channels // 32)
    assert n_params(create_attention("coord", channels)) == 3 * channels * m + 3 * m + 2 * channels


@pytest.mark.parametrize("channels,expected", [(232, 13_556), (236, 13_788), (512, 65_636)])
def test_cbam_ms_spec_params(channels: int, expected: int) -> None:
    r = max(16, channels // 8)
    assert n_params(create_attention("cbam_ms", channels)) == expected == 2 * channels * r + 100


@pytest.mark.parametrize("channels", [3, 13, 64])
def test_cbam_paper_params(channels: int) -> None:
    h = max(1, channels // 16)
    assert n_params(create_attention("cbam", channels)) == 2 * channels * h + 98


# --- behaviour --------------------------------------------------------------------------------


def test_spectral_ms_adds_a_per_channel_offset_in_0_1() -> None:
    torch.manual_seed(0)
    m = create_attention("spectral_ms", 32).eval()
    x = torch.randn(2, 32, 5, 5)
    d = m(x) - x
    assert torch.allclose(d, d[:, :, :1, :1].expand_as(d), atol=1e-6)
    assert (d > 0).all() and (d < 1).all()


@pytest.mark.parametrize("mode", ["mul", "res"])
def test_spectral_modes(mode: str) -> None:
    torch.manual_seed(0)
    m = create_attention("spectral", 13, mode=mode).eval()
    x = torch.randn(2, 13, 4, 4)
    a = m.fc(x.mean(dim=(2, 3)))[:, :, None, None]
    expected = x * a if mode == "mul" else x + x * a
    assert torch.allclose(m(x), expected)


@pytest.mark.parametrize("name", ["se", "se_ms", "eca", "cbam"])
def test_channel_gates_shrink_magnitudes(name: str) -> None:
    torch.manual_seed(0)
    m = create_attention(name, 32).eval()
    x = torch.randn(2, 32, 5, 5)
    assert (m(x).abs() <= x.abs() + 1e-6).all()


def test_spatial_uses_mean_first_then_max() -> None:
    m = create_attention("spatial", 4, kernel_size=1)
    with torch.no_grad():
        m.conv.weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))
    x = torch.randn(1, 4, 3, 3)
    assert torch.allclose(m(x), x * torch.sigmoid(x.mean(dim=1, keepdim=True)))


def test_cbam_ms_is_residual() -> None:
    torch.manual_seed(0)
    m = create_attention("cbam_ms", 32).eval()
    x = torch.randn(2, 32, 5, 5)
    y = x * m.channel_gate(x)
    assert torch.allclose(m(x), y * m.spatial.gate(y) + x)


def test_dual_is_position_plus_channel_and_starts_at_2x() -> None:
    torch.manual_seed(0)
    m = create_attention("dual", 16).eval()
    x = torch.randn(2, 16, 5, 5)
    assert torch.allclose(m(x), 2 * x)  # both γ start at 0
    with torch.no_grad():
        m.position.gamma.fill_(1.0)
        m.channel.gamma.fill_(1.0)
    assert torch.allclose(m(x), m.position(x) + m.channel(x))
    assert not torch.allclose(m(x), 2 * x)


def test_coord_gates_factor_into_rows_and_columns() -> None:
    # out / x = a_h(h) · a_w(w): an outer product, so rank one in every channel.
    torch.manual_seed(0)
    m = create_attention("coord_ms", 16).eval()
    x = torch.rand(1, 16, 6, 6) + 0.5
    ratio = (m(x) / x)[0]
    ranks = torch.linalg.matrix_rank(ratio.double(), tol=1e-6)
    assert (ranks == 1).all()


@pytest.mark.parametrize("name", ANY_CHANNELS[1:] + AT_LEAST_16 + ["dual"])
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    m = create_attention(name, 32).train()
    for p in m.parameters():
        if p.numel() == 1 and name == "dual":
            nn.init.constant_(p, 0.5)  # DANet's γ starts at 0, which blocks the other gradients
    x = torch.randn(2, 32, 6, 6)
    out = m(x)
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", ["se_ms", "cbam_ms", "coord_ms", "dual_ms"])
def test_eval_mode_is_deterministic(name: str) -> None:
    torch.manual_seed(0)
    m = create_attention(name, 32).eval()
    x = torch.randn(2, 32, 6, 6)
    assert torch.equal(m(x), m(x))


def test_se_ms_dropout_acts_only_in_training() -> None:
    torch.manual_seed(0)
    m = create_attention("se_ms", 64).train()
    x = torch.randn(4, 64, 3, 3)
    assert not torch.equal(m(x), m(x))


@pytest.mark.parametrize("name,kwargs", [("spatial", {"kernel_size": 4}), ("eca", {"kernel_size": 2})])
def test_even_kernels_raise(name: str, kwargs: dict) -> None:
    with pytest.raises(ValueError, match="must be odd"):
        create_attention(name, 8, **kwargs)
