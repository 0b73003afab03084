"""Transformer over feature maps and patch embedding: counts, the V3 sequence-first quirk, shapes, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from archlab.blocks import create_block
from archlab.blocks.transformer import SinusoidalPositionalEncoding


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread avoids oversubscribing a shared CPU (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def layer_params(d: int, ff: int) -> int:
    return 4 * d * d + 4 * d + 2 * d * ff + ff + d + 4 * d


def test_transformer_ms_spec_count() -> None:
    m = create_block("transformer_ms", 256, 256)
    assert n_params(m) == 1_315_072 == layer_params(256, 2048)
    layer = m.transformer_encoder.layers[0]
    assert layer.self_attn.batch_first is False
    assert layer.dropout.p == 0.2 and layer.norm_first is False


@pytest.mark.parametrize("d,heads,layers,ff", [(12, 3, 2, None), (13, 1, 1, 7), (64, 8, 3, 128)])
def test_transformer_params(d: int, heads: int, layers: int, ff: int | None) -> None:
    m = create_block("transformer", d, d, num_heads=heads, num_layers=layers, dim_feedforward=ff)
    assert n_params(m) == layers * layer_params(d, 4 * d if ff is None else ff)


def test_positional_table_is_a_buffer_with_sin_cos() -> None:
    pe = SinusoidalPositionalEncoding(13, max_len=50)
    assert n_params(pe) == 0 and pe.pe.shape == (50, 13)
    for pos, i in [(0, 0), (7, 0), (7, 2), (49, 6)]:
        omega = 10000 ** (-2 * i / 13)
        assert math.isclose(pe.pe[pos, 2 * i].item(), math.sin(pos * omega), abs_tol=1e-5)
        if 2 * i + 1 < 13:
            assert math.isclose(pe.pe[pos, 2 * i + 1].item(), math.cos(pos * omega), abs_tol=1e-5)


@pytest.mark.parametrize("channels,heads", [(1, 1), (3, 3), (12, 4), (13, 1)])
@pytest.mark.parametrize("size", [1, 7])
@pytest.mark.parametrize("name", ["transformer", "transformer_ms"])
def test_shapes_on_awkward_inputs(name: str, channels: int, heads: int, size: int) -> None:
    torch.manual_seed(0)
    m = create_block(name, channels, channels, num_heads=heads).eval()
    assert m(torch.randn(1, channels, size, size)).shape == (1, channels, size, size)


def test_120_by_120_map_exceeds_the_position_table() -> None:
    m = create_block("transformer", 12, 12, num_heads=4).eval()
    with pytest.raises(ValueError, match="holds 5000 positions, got 14400 tokens"):
        m(torch.randn(1, 12, 120, 120))


def test_sequence_first_quirk_attends_across_the_batch() -> None:
    torch.manual_seed(0)
    quirk = create_block("transformer_ms", 16, 16, num_heads=4).eval()
    fixed = create_block("transformer_ms", 16, 16, num_heads=4, batch_first_fix=True).eval()
    fixed.load_state_dict(quirk.state_dict())  # same parameters, other function
    x = torch.randn(3, 16, 4, 4)
    with torch.no_grad():
        # Quirk: an image's output depends on the other images in the batch ...
        assert (quirk(x)[:1] - quirk(x[:1])).abs().max() > 1e-4
        # ... and changing one position of one image leaves its other positions unchanged.
        x2 = x.clone()
        x2[0, :, 0, 0] += 1.0
        d = (quirk(x2[:1]) - quirk(x[:1])).abs().amax(dim=1)[0]
        assert d[0, 0] > 1e-3 and d.flatten()[1:].max() == 0
        # Fixed: batch-independent, and one position affects all positions.
        assert torch.allclose(fixed(x)[:1], fixed(x[:1]), atol=1e-5)
        d = (fixed(x2[:1]) - fixed(x[:1])).abs().amax(dim=1)[0]
        assert (d > 1e-6).all()


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    m = create_block("transformer", 16, 16, num_heads=4).train()
    out = m(torch.randn(2, 16, 3, 3))
    (out * torch.randn_like(out)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_eval_mode_is_deterministic_train_mode_is_not() -> None:
    torch.manual_seed(0)
    m = create_block("transformer_ms", 16, 16, num_heads=4)
    x = torch.randn(2, 16, 3, 3)
    m.eval()
    assert torch.equal(m(x), m(x))
    m.train()
    assert not torch.equal(m(x), m(x))


def test_transformer_errors() -> None:
    with pytest.raises(ValueError, match="divisible by num_heads=8"):
        create_block("transformer", 12, 12)
    with pytest.raises(ValueError, match="keeps the channel count"):
        create_block("transformer", 12, 24, num_heads=4)


@pytest.mark.parametrize(
    "cin,dim,patch,size", [(1, 8, 1, 1), (3, 16, 7, 7), (12, 32, 8, 120), (13, 12, 4, 120)]
)
def test_patch_embed(cin: int, dim: int, patch: int, size: int) -> None:
    torch.manual_seed(0)
    m = create_block("patch_embed", cin, dim, patch_size=patch)
    assert n_params(m) == patch * patch * cin * dim + dim
    n = (size // patch) ** 2
    assert m(torch.randn(1, cin, size, size)).shape == (1, n, dim)
    as_map = create_block("patch_embed", cin, dim, patch_size=patch, flatten=False)
    assert as_map(torch.randn(1, cin, size, size)).shape == (1, dim, size // patch, size // patch)


def test_patch_embed_norm_and_error() -> None:
    assert n_params(create_block("patch_embed", 3, 16, patch_size=4, norm=True)) == 16 * 3 * 16 + 16 + 32
    with pytest.raises(ValueError, match="not divisible by patch_size=16"):
        create_block("patch_embed", 12, 32)(torch.randn(1, 12, 120, 120))
