"""Seed 002's HybridNet: parameter counts, the unused FPN of ``hybridnet``, the trained FPN of ``hybridnet_fpn``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archlab.models import create_model, model_info
from archlab.models.hybridnet import HybridNet

SEED_TOTAL = 7_696_913
FPN_PARAMS = 2_000_384


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_fpn_formula() -> None:
    # Three biased 1×1 laterals (128, 256, 512 → 256) and three biased 3×3 outputs (256 → 256).
    laterals = (128 + 1) * 256 + (256 + 1) * 256 + (512 + 1) * 256
    outputs = 3 * (9 * 256 * 256 + 256)
    assert laterals + outputs == FPN_PARAMS


def test_registered_with_seed_metadata() -> None:
    for name in ("hybridnet", "hybridnet_fpn"):
        info = model_info(name)
        assert (info["input_size"], info["num_classes"], info["source"]) == ((3, 224, 224), 8, "seed 002")


def test_seed_parameter_count_and_breakdown() -> None:
    model = create_model("hybridnet")
    assert n_params(model) == SEED_TOTAL
    parts = {name: n_params(child) for name, child in model.named_children()}
    assert parts == {
        "conv1": 6 + 7 * 7 * 3 * 64 + 128,
        "dense1": 335_040,
        "trans1": 33_408,
        "res_blocks": 4_887_552,
        "attention": 33_411,
        "avgpool": 0,
        "fpn": FPN_PARAMS,
        "classifier": (512 * 512 + 512) + 1024 + (512 * 256 + 256) + 512 + (256 * 8 + 8),
    }


def test_fpn_variant_adds_only_the_wider_first_head_layer() -> None:
    # The head reads 512 + 3·256 pooled features instead of 512.
    assert n_params(create_model("hybridnet_fpn")) == SEED_TOTAL + 3 * 256 * 512 == 8_090_129


def test_state_dict_keeps_the_seed_module_names() -> None:
    shapes = {k: tuple(v.shape) for k, v in create_model("hybridnet").state_dict().items()}
    assert shapes["conv1.0.weight"] == (3,)  # GroupNorm(1, 3) on the input
    assert shapes["dense1.layers.5.5.weight"] == (32, 128, 3, 3)
    assert shapes["trans1.1.bias"] == (128,)
    assert shapes["res_blocks.2.shortcut.1.weight"] == (512,)
    assert shapes["attention.channel_mlp.2.weight"] == (512, 32)
    assert shapes["fpn.output_3.weight"] == (256, 256, 3, 3)
    assert shapes["classifier.8.weight"] == (8, 256)
    assert len(shapes) == 97  # the same 97 entries as the seed's HybridNet


def test_output_shape_at_the_seed_resolution() -> None:
    torch.manual_seed(0)
    model = create_model("hybridnet").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 8)


def test_pyramid_levels() -> None:
    torch.manual_seed(0)
    model = create_model("hybridnet")
    c1, c2, c3 = torch.randn(1, 128, 28, 28), torch.randn(1, 256, 14, 14), torch.randn(1, 512, 7, 7)
    assert [tuple(p.shape) for p in model.pyramid(c1, c2, c3)] == [
        (1, 256, 28, 28),
        (1, 256, 14, 14),
        (1, 256, 7, 7),
    ]


def test_hybridnet_fpn_gets_no_gradient() -> None:
    torch.manual_seed(0)
    model = create_model("hybridnet").train()
    model(torch.randn(2, 3, 32, 32)).square().sum().backward()
    no_grad = {n for n, p in model.named_parameters() if p.grad is None}
    assert no_grad == {n for n, _ in model.named_parameters() if n.startswith("fpn.")}
    assert sum(p.numel() for n, p in model.named_parameters() if n in no_grad) == FPN_PARAMS


def test_hybridnet_fpn_trains_every_parameter() -> None:
    torch.manual_seed(0)
    model = create_model("hybridnet_fpn").train()
    model(torch.randn(2, 3, 32, 32)).square().sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_eval_mode_is_deterministic() -> None:
    torch.manual_seed(0)
    model = create_model("hybridnet_fpn").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_other_class_and_band_counts() -> None:
    torch.manual_seed(0)
    model = create_model("hybridnet", num_classes=19, in_chans=12).eval()
    assert model.conv1[1].in_channels == 12
    with torch.no_grad():
        assert model(torch.randn(1, 12, 120, 120)).shape == (1, 19)


def test_bad_widths_are_rejected() -> None:
    with pytest.raises(ValueError, match="needs 3 stage_channels"):
        HybridNet(stage_channels=(128, 256))  # type: ignore[arg-type]
