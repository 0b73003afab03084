"""MACs at the aten level: hand formulas per operator, attention backends, published model totals."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archlab.inspect import count_macs
from archlab.inspect.ops import MAC, op_cost

aten = torch.ops.aten


def test_conv_macs_match_the_closed_form():
    # MACs = N · C_out · H_out · W_out · (C_in / groups) · k_h · k_w ; bias adds are not MACs.
    conv = nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1, groups=2, dilation=1)
    total, per_module, _ = count_macs(conv, torch.randn(2, 8, 20, 20))
    assert total == 2 * 16 * 10 * 10 * (8 // 2) * 3 * 3 == 115_200
    assert per_module[""] == total


def test_dilated_and_transposed_conv_macs():
    dil = nn.Conv2d(4, 6, kernel_size=3, dilation=2, bias=False)  # out 12×12 from 16×16
    assert count_macs(dil, torch.randn(1, 4, 16, 16))[0] == 6 * 12 * 12 * 4 * 9
    # A transposed conv scatters each input element over C_out/groups · k · k outputs.
    up = nn.ConvTranspose2d(4, 6, kernel_size=2, stride=2)
    assert count_macs(up, torch.randn(1, 4, 5, 5))[0] == 4 * 5 * 5 * 6 * 2 * 2


def test_linear_matmul_bmm_einsum():
    lin = nn.Linear(32, 10)
    assert count_macs(lin, torch.randn(4, 32))[0] == 4 * 32 * 10
    # Linear on a token tensor: every token is a 32→10 product.
    assert count_macs(lin, torch.randn(2, 7, 32))[0] == 2 * 7 * 32 * 10

    class Products(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.matmul(a, b) + torch.bmm(a, b) + torch.einsum("bik,bkj->bij", a, b)

    total, _, uncounted = count_macs(Products(), (torch.randn(3, 5, 6), torch.randn(3, 6, 4)))
    assert total == 3 * (3 * 5 * 6 * 4)
    assert uncounted == {}


class _Attention(nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("backend", ["default", "math"])
def test_attention_counts_qk_and_av_on_every_cpu_backend(backend):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    b, h, length, s, e, ev = 2, 3, 7, 11, 8, 5
    q, k, v = torch.randn(b, h, length, e), torch.randn(b, h, s, e), torch.randn(b, h, s, ev)
    expected = b * h * length * s * e + b * h * length * s * ev  # QKᵀ + A·V
    if backend == "math":
        with sdpa_kernel(SDPBackend.MATH):
            total, _, uncounted = count_macs(_Attention(), (q, k, v))
    else:
        total, _, uncounted = count_macs(_Attention(), (q, k, v))
    assert total == expected
    assert uncounted == {}


@pytest.mark.parametrize(
    "op, layout",
    [
        (aten._scaled_dot_product_flash_attention.default, "bhle"),
        (aten._scaled_dot_product_efficient_attention.default, "bhle"),
        (aten._scaled_dot_product_cudnn_attention.default, "bhle"),
        (aten._scaled_dot_product_flash_attention_for_cpu.default, "bhle"),
        (aten._flash_attention_forward.default, "blhe"),
        (aten._efficient_attention_forward.default, "blhe"),
    ],
)
def test_gpu_attention_kernels_use_their_own_layouts(op, layout):
    # The GPU kernels cannot run here; their cost depends only on the argument shapes.
    b, h, length, s, e = 2, 4, 9, 13, 16
    shape_q = (b, h, length, e) if layout == "bhle" else (b, length, h, e)
    shape_k = (b, h, s, e) if layout == "bhle" else (b, s, h, e)
    q, k = torch.empty(shape_q, device="meta"), torch.empty(shape_k, device="meta")
    cost = op_cost(op, (q, k, k), {}, None)
    assert cost.kind == MAC
    assert cost.macs == 2 * b * h * length * s * e


def test_norm_and_elementwise_are_counted_apart_and_unknown_ops_are_named():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.bn(x))
            return torch.fft.rfft2(y).real

    from archlab.inspect.trace import preserved_state, trace_forward

    net = Net().eval()
    x = torch.randn(2, 4, 5, 6)
    with preserved_state(net, x.device):
        trace = trace_forward(net, (x,), measure_activations=False, track_rf=False)
    root = trace.records[""]
    assert root.macs == 0
    assert root.norm_elements == x.numel()  # 240 elements normalised
    assert root.elementwise_ops >= x.numel()  # relu writes 240 elements
    assert any("fft" in name for name in trace.uncounted), trace.uncounted


def test_resnet50_total_is_4_09_g(resnet50_summary):
    s = resnet50_summary  # measured once per session (conftest), at 1×3×224×224
    assert s.macs == pytest.approx(4.09e9, rel=0.01)
    assert {r.name: r.macs for r in s.rows}["fc"] == 2048 * 1000
    assert s.flops == 2 * s.macs
    assert s.uncounted_ops == {}


@pytest.mark.slow
def test_timm_vit_small_counts_attention():
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_small_patch16_224").eval()
    total, per_module, uncounted = count_macs(model, torch.randn(1, 3, 224, 224))
    # D=384, N=197 tokens, 6 heads × 64, MLP 1536, 12 blocks: patch 57.8 M + 12 × 378.4 M + head 0.4 M.
    assert total == pytest.approx(4.6e9, rel=0.02)
    n, d = 197, 384
    attention_core = 2 * n * n * d  # QKᵀ and A·V over all heads
    assert per_module["blocks.0.attn"] == n * d * 3 * d + attention_core + n * d * d
    assert uncounted == {}


def test_fused_transformer_fast_paths_count_like_the_decomposed_ops():
    # In eval mode without grad, PyTorch runs MultiheadAttention / TransformerEncoderLayer as one
    # fused kernel each; in train mode as linear + attention ops. Both must give the same MACs.
    torch.manual_seed(0)
    d, hidden, length, batch = 16, 24, 9, 2
    layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=hidden, dropout=0.0, batch_first=True)
    x = torch.randn(batch, length, d)
    expected = batch * length * (4 * d * d + 2 * length * d + 2 * d * hidden)
    assert count_macs(layer.train(), x)[0] == expected
    assert count_macs(layer.eval(), x)[0] == expected
    mha = nn.MultiheadAttention(d, 4, batch_first=True).eval()

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = mha

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return self.mha(t, t, t, need_weights=False)[0]

    assert count_macs(SelfAttention().eval(), x)[0] == batch * length * (4 * d * d + 2 * length * d)


@pytest.mark.slow
def test_torchvision_vit_b_16_is_17_56_g():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.vit_b_16()
    x = torch.randn(1, 3, 224, 224)
    total, _, uncounted = count_macs(model.eval(), x)  # fused MultiheadAttention fast path
    assert total == pytest.approx(17.56e9, rel=0.01)
    assert uncounted == {}
    assert count_macs(model.train(), x)[0] == total  # decomposed path: the same count


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_counts_equal_cpu_counts():
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224").eval()
    x = torch.randn(2, 3, 224, 224)
    cpu = count_macs(model, x)
    gpu = count_macs(model.cuda(), x.cuda())
    assert gpu[0] == cpu[0]
    assert gpu[1] == cpu[1]
