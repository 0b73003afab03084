"""Seed 000's multispectral models: published parameter counts, torchinfo-style figures, in_chans, quirks."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

from archlab.models import create_model, model_info

PUBLISHED = {
    "multispectral_v1": 1_975_770,
    "multispectral_v2": 1_804_410,
    "multispectral_v3": 8_517_006,
    "multispectral_v3_fixed": 8_517_006,
    "multispectral_v4": 12_650_898,
    "multispectral_v5": 1_716_240,
    "multispectral_v6": 2_048_528,
    "multispectral_v7": 950_761,
    "multispectral_v8": 962_328,
    "multispectral_v9": 939_604,
    "wrn_b4_eca": 985_837,
}
NAMES = list(PUBLISHED)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread avoids oversubscribing a shared CPU (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@functools.cache
def built(name: str) -> nn.Module:
    """One default build per model, shared by the read-only tests."""
    return create_model(name)


def torchinfo_style_totals(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """Mult-adds and forward/backward pass bytes by torchinfo 1.8.0's rules (spec §1).

    Executed leaf modules that own parameters count: a conv adds params × N × H_out × W_out,
    a linear or norm adds params × the first output dimension; the pass size is
    2 × 4 bytes × the elements of those modules' outputs.
    """
    totals = [0, 0]

    def hook(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        count = sum(p.numel() for p in mod.parameters(recurse=False))
        if count == 0:
            return
        spatial = out[0, 0].numel() if isinstance(mod, (nn.Conv1d, nn.Conv2d)) else 1
        totals[0] += count * out.shape[0] * spatial
        totals[1] += 2 * 4 * out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        y = model(x)
    for h in handles:
        h.remove()
    assert y.shape == (x.shape[0], 19)
    return totals[0], totals[1]


@pytest.mark.parametrize("name", NAMES)
def test_published_parameter_count(name: str) -> None:
    assert n_params(built(name)) == PUBLISHED[name]


@pytest.mark.parametrize("name", NAMES)
def test_registry_metadata(name: str) -> None:
    info = model_info(name)
    assert info["input_size"] == (12, 120, 120) and info["num_classes"] == 19
    assert info["task"] == "multi_label"
    assert info["source"].startswith("seed 000 (spec §3.")


# Published torchinfo figures (spec Appendix A): mult-adds in M, forward/backward pass size in MB.
FIGURES = [
    ("multispectral_v1", {}, 1_310.77, 41.48),
    ("multispectral_v2", {}, 25_692.54, 628.74),  # ~1.5 s: every stage at 120 × 120
    ("multispectral_v3", {}, 1_409.80, 59.22),
    ("multispectral_v4", {}, 3_284.53, 97.85),
    ("multispectral_v5", {}, 800.67, 64.60),
    ("multispectral_v6", {}, 875.44, 66.90),
    ("multispectral_v7", {}, 619.91, 56.68),
    ("multispectral_v8", {}, 647.47, 63.61),
    ("multispectral_v9", {}, 479.63, 80.61),
    ("wrn_b4_eca", {}, 2_138.46, 61.29),
    ("wrn_b4_eca", {"apply_bn2": True}, 2_138.47, 76.61),  # the 25–27 March 2025 block (§4.3)
]


@pytest.mark.parametrize("name,kwargs,mult_adds_m,pass_mb", FIGURES)
def test_published_torchinfo_figures(name: str, kwargs: dict, mult_adds_m: float, pass_mb: float) -> None:
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    mult_adds, pass_bytes = torchinfo_style_totals(model, torch.randn(1, 12, 120, 120))
    assert round(mult_adds / 1e6, 2) == mult_adds_m
    assert round(pass_bytes / 1e6, 2) == pass_mb


SUBTOTALS = {
    "multispectral_v3": {
        "spectral_mixer": 448,
        "block1": 80_756,
        "block2": 415_557,
        "block3": 1_658_496,
        "transformer_block": 1_315_072,
        "skip_adapter": 16_384,
        "block4": 5_020_546,
        "classifier": 9_747,
    },  # noqa: E501
    "multispectral_v4": {
        "spectral_mixer": 896,
        "block1": 34_264,
        "block2": 232_581,
        "block3": 948_480,
        "skip_adapter": 65_536,
        "block4": 1_912_482,
        "classifier": 9_456_659,
    },  # noqa: E501
    "multispectral_v5": {
        "spectral_mixer": 19_392,
        "block1": 19_796,
        "block2": 73_349,
        "block3": 298_240,
        "skip_adapter": 16_384,
        "block4": 1_153_124,
        "classifier": 135_955,
    },  # noqa: E501
    "multispectral_v6": {
        "spectral_mixer": 19_392,
        "block1": 19_796,
        "block2": 73_349,
        "block3": 298_240,
        "skip_adapter": 16_384,
        "block4": 1_485_412,
        "classifier": 135_955,
    },  # noqa: E501
    "multispectral_v7": {
        "spectral_mixer": 19_392,
        "block1": 18_195,
        "block2": 63_507,
        "block3": 203_640,
        "skip_adapter": 8_064,
        "skip_adapter_mid": 22_272,
        "skip_adapter_deep": 38_976,
        "fusion_conv": 676,
        "block4": 543_892,
        "classifier": 32_147,
    },  # noqa: E501
    "multispectral_v8": {
        "spectral_mixer": 19_554,
        "block1": 18_195,
        "block2": 63_507,
        "block3": 203_640,
        "skip_adapter": 8_064,
        "skip_adapter_spectral": 7_424,
        "skip_adapter_mid": 22_272,
        "skip_adapter_deep": 38_976,
        "fusion_conv": 676,
        "fusion_conv2": 3_720,
        "block4": 543_892,
        "classifier": 32_408,
    },  # noqa: E501
    "multispectral_v9": {
        "spectral_mixer": 6_334,
        "block1": 21_367,
        "block2": 74_415,
        "block3": 217_172,
        "skip_adapter": 9_288,
        "skip_adapter_spectral": 8_968,
        "skip_adapter_mid": 25_016,
        "skip_adapter_deep": 41_064,
        "fusion_conv": 692,
        "fusion_conv2": 3_784,
        "block4": 498_584,
        "classifier": 32_920,
    },  # noqa: E501
    "wrn_b4_eca": {
        "conv1": 4_104,
        "bn1": 76,
        "relu": 0,
        "layer1": 52_294,
        "layer2": 185_598,
        "layer3": 740_858,
        "avgpool": 0,
        "fc": 2_907,
    },  # noqa: E501
}


@pytest.mark.parametrize("name", list(SUBTOTALS))
def test_stage_names_order_and_subtotals(name: str) -> None:
    model = built(name)
    assert {k: n_params(m) for k, m in model.named_children()} == SUBTOTALS[name]
    assert [k for k, _ in model.named_children()] == list(SUBTOTALS[name])


def test_v1_v2_are_one_sequential_with_the_spec_rows() -> None:
    assert len(built("multispectral_v1").model) == 24
    assert len(built("multispectral_v2").model) == 30


# Parameters per extra input band: first conv's output channels × its kernel area.
PER_BAND = {"multispectral_v1": 32 * 9, "multispectral_v2": 16, "multispectral_v3": 32, "multispectral_v4": 64, "multispectral_v5": 64, "multispectral_v6": 64, "multispectral_v7": 64, "multispectral_v8": 64, "multispectral_v9": 64, "wrn_b4_eca": 38 * 9}  # fmt: skip  # noqa: E501


@pytest.mark.parametrize("name", list(PER_BAND))
@pytest.mark.parametrize("in_chans", [4, 13])
def test_other_in_chans(name: str, in_chans: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_chans=in_chans).eval()
    assert n_params(model) == PUBLISHED[name] + (in_chans - 12) * PER_BAND[name]
    with torch.no_grad():
        assert model(torch.randn(2, in_chans, 16, 16)).shape == (2, 19)


@pytest.mark.parametrize("name,features", [("multispectral_v1", 256), ("multispectral_v4", 1024), ("multispectral_v9", 128), ("wrn_b4_eca", 152)])  # fmt: skip  # noqa: E501
def test_num_classes_changes_only_the_last_linear(name: str, features: int) -> None:
    assert n_params(create_model(name, num_classes=10)) == PUBLISHED[name] - 9 * (features + 1)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).train()
    out = model(torch.randn(2, 12, 16, 16))
    (out * torch.randn_like(out)).sum().backward()
    idle = {n for n, p in model.named_parameters() if p.grad is None}
    if name == "wrn_b4_eca":
        # Only the six constructed-but-unused bn2 layers: 1,064 parameters (spec §3.10).
        assert idle and all(".bn2." in n for n in idle)
        assert sum(p.numel() for n, p in model.named_parameters() if n in idle) == 1_064
    else:
        assert idle == set()


def test_v3_quirk_and_fix() -> None:
    torch.manual_seed(0)
    quirk = create_model("multispectral_v3").eval()
    fixed = create_model("multispectral_v3_fixed").eval()
    fixed.load_state_dict(quirk.state_dict())
    assert quirk.transformer_block.transformer_encoder.layers[0].self_attn.batch_first is False
    assert fixed.transformer_block.transformer_encoder.layers[0].self_attn.batch_first is True
    x = torch.randn(3, 12, 16, 16)
    with torch.no_grad():
        assert (quirk(x)[:1] - quirk(x[:1])).abs().max() > 1e-7  # depends on the other images
        assert torch.allclose(fixed(x)[:1], fixed(x[:1]), atol=1e-5)
    assert n_params(create_model("multispectral_v3", batch_first_fix=True)) == PUBLISHED["multispectral_v3"]


def test_eval_is_deterministic_and_training_is_not() -> None:
    torch.manual_seed(0)
    model = create_model("multispectral_v9")
    x = torch.randn(2, 12, 16, 16)
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(x), model(x))
        model.train()
        assert not torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", ["multispectral_v5", "multispectral_v7", "multispectral_v9"])
def test_sizes_not_multiple_of_8_raise(name: str) -> None:
    with pytest.raises(ValueError, match="multiples of 8"):
        create_model(name).eval()(torch.randn(1, 12, 20, 20))


def test_v9_grouped_convs_and_wrn_init() -> None:
    v9 = built("multispectral_v9")
    assert v9.spectral_mixer[3].groups == 4 and v9.block4[0].fuse.groups == 4
    torch.manual_seed(0)
    wrn = create_model("wrn_b4_eca")
    w = wrn.layer3[1].conv2.weight  # 152×152×3×3: Kaiming-normal fan_out → std √(2 / (152·9))
    assert abs(w.std().item() / math.sqrt(2 / (152 * 9)) - 1) < 0.02
