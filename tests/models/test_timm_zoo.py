"""The timm-backed standard families: names, metadata, parameter counts and forward shapes."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from archlab.models import create_model, list_models, model_info
from archlab.models.pretrained import find_classifier, find_first_conv

# Parameter counts at 3 input channels and 1000 classes, as published in torchvision's model
# documentation (same architectures); SE-ResNet-50 and ViT-Ti/S have no torchvision twin: timm's figure.
PUBLISHED = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "seresnet50": 28_088_024,
    "densenet121": 7_978_856,
    "vgg16": 138_357_544,
    "mobilenetv2_100": 3_504_872,
    "mobilenetv3_small_100": 2_542_856,
    "mobilenetv3_large_100": 5_483_032,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
    "vit_tiny_patch16_224": 5_717_416,
    "vit_small_patch16_224": 22_050_664,
    "vit_base_patch16_224": 86_567_656,
}
FAMILIES = sorted(PUBLISHED)
TORCHVISION_TWIN = {
    "mobilenetv2_100": "mobilenet_v2",
    "mobilenetv3_small_100": "mobilenet_v3_small",
    "mobilenetv3_large_100": "mobilenet_v3_large",
    "vit_base_patch16_224": "vit_b_16",
    **{n: n for n in FAMILIES if n.startswith(("resnet", "resnext", "densenet", "vgg", "efficientnet"))},
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(fn, *args, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return fn(*args, **kwargs)


def test_every_family_is_registered_with_timm_metadata() -> None:
    assert set(FAMILIES) <= set(list_models())
    for name in FAMILIES:
        info = model_info(name)
        assert info["source"] == f"timm {name}"
        assert info["num_classes"] == 1000
        assert info["input_size"] == tuple(timm.models.get_pretrained_cfg(name).input_size)
    assert model_info("efficientnet_b7")["input_size"] == (3, 600, 600)


HEAVY = {
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "resnet152",
    "vit_base_patch16_224",
    "vgg16",
}


def test_published_figures_are_torchvision_metadata() -> None:
    from torchvision.models import get_model_weights

    assert len(TORCHVISION_TWIN) == 20
    for ours, theirs in TORCHVISION_TWIN.items():
        assert get_model_weights(theirs).DEFAULT.meta["num_params"] == PUBLISHED[ours], ours


@pytest.mark.parametrize("name", FAMILIES)
def test_parameter_count_equals_published(name: str) -> None:
    assert n_params(on_meta(create_model, name)) == PUBLISHED[name]


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in FAMILIES]
)
def test_parameter_count_equals_timm_at_other_bands_and_classes(name: str) -> None:
    """count(C, K) = count(3, 1000) + (C − 3)·|first filter per band| + (K − 1000)·(features + 1)."""
    num_classes, in_chans = 7, 13
    ours = on_meta(create_model, name, num_classes=num_classes, in_chans=in_chans)
    theirs = on_meta(timm.create_model, name, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    assert n_params(ours) == n_params(theirs)

    first = ours.get_submodule(find_first_conv(ours)[0]).weight
    per_band = first.shape[0] * first[0, 0].numel()
    head = ours.get_submodule(find_classifier(ours)[0])
    features = head.in_features if isinstance(head, nn.Linear) else head.in_channels
    expected = PUBLISHED[name] + (in_chans - 3) * per_band + (num_classes - 1000) * (features + 1)
    assert n_params(ours) == expected


def test_no_classifier_with_zero_classes() -> None:
    model = on_meta(create_model, "resnet50", num_classes=0)
    assert n_params(model) == PUBLISHED["resnet50"] - (2048 * 1000 + 1000)


@pytest.mark.parametrize(
    ("name", "in_chans", "size"),
    [
        ("resnet18", 1, 64),
        ("mobilenetv3_small_100", 13, 64),
        ("efficientnet_b0", 4, 64),
        ("densenet121", 12, 32),
    ],
)
def test_cnn_forward_at_other_bands(name: str, in_chans: int, size: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, in_chans=in_chans).eval()
    with torch.no_grad():
        out = model(torch.randn(2, in_chans, size, size))
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()


def test_vit_forward_at_other_bands_and_size() -> None:
    torch.manual_seed(0)
    model = create_model("vit_tiny_patch16_224", num_classes=3, in_chans=4, img_size=32).eval()
    assert model.pos_embed.shape == (1, 1 + 2 * 2, 192)
    with torch.no_grad():
        assert model(torch.randn(2, 4, 32, 32)).shape == (2, 3)


def test_forward_at_documented_size_fast_family() -> None:
    model = create_model("mobilenetv3_small_100", num_classes=10).eval()
    c, h, w = model_info("mobilenetv3_small_100")["input_size"]
    with torch.no_grad():
        assert model(torch.randn(1, c, h, w)).shape == (1, 10)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [n for n in FAMILIES if n not in {"efficientnet_b6", "efficientnet_b7", "vgg16"}]
)
def test_forward_at_documented_size(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_chans=5).eval()
    _, h, w = model_info(name)["input_size"]
    with torch.no_grad():
        assert model(torch.randn(1, 5, h, w)).shape == (1, 10)


def test_unknown_name_suggests_close_names() -> None:
    with pytest.raises(ValueError, match="resnet18"):
        create_model("resnet19")
    with pytest.raises(ValueError, match="efficientnet_b"):
        create_model("efficientnet_b9")
    with pytest.raises(ValueError, match="vit_small_patch16_224"):
        create_model("vit_small_patch16")


def test_bad_channel_count_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="in_chans must be >= 1"):
        create_model("resnet18", in_chans=0)
