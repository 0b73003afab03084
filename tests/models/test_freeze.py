"""``model.freeze``: layer-name patterns or "backbone", the head per library, BatchNorm, training setup."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from archlab.config import load_config
from archlab.models import create_model, freeze
from archlab.models.freeze import count_trainable, find_head


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def frozen_names(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if not p.requires_grad}


@pytest.mark.parametrize("name", ["resnet18", "torchvision:resnet18"])
def test_backbone_leaves_only_fc_trainable(name: str) -> None:
    k = 7
    with torch.device("meta"):
        model = create_model(name, num_classes=k)
    frozen = freeze(model, "backbone")
    assert count_trainable(model) == 512 * k + k == 3_591
    assert frozen == n_params(model) - (512 * k + k) == 11_176_512
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}


@pytest.mark.parametrize(
    ("name", "head", "features"),
    [
        ("torchvision:vgg16", "classifier.6", 4096),  # the last Linear of torchvision's classifier
        ("vgg16", "head.fc", 4096),  # timm's get_classifier()
        ("vit_b_16", "heads.head", 768),
        ("torchvision:convnext_tiny", "classifier.2", 768),
        ("digits_cnn", "head.2", 64),
    ],
)
def test_head_per_library(name: str, head: str, features: int) -> None:
    with torch.device("meta"):
        model = create_model(name, num_classes=5)
    assert find_head(model, 5) == [head]
    freeze(model, "backbone", num_classes=5)
    assert count_trainable(model) == features * 5 + 5


def test_head_found_by_class_count_when_no_linear() -> None:
    model = create_model("mnist_net3")  # a 1×1-conv head registered before the skip convs
    freeze(model, ["backbone"], num_classes=10)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["convblock8.0.weight"]
    assert count_trainable(model) == 12 * 10


def test_patterns_match_modules_and_parameters() -> None:
    with torch.device("meta"):
        model = create_model("resnet18", num_classes=10)
    stem = model.conv1.weight.numel() + 2 * 64
    assert freeze(model, ["conv1", "bn1.*"]) == stem == 9_536
    assert frozen_names(model) == {"conv1.weight", "bn1.weight", "bn1.bias"}
    assert freeze(model, "layer1*") == n_params(model.layer1) == 147_968
    assert freeze(model, ["layer4.1.conv2.weight"]) == 512 * 512 * 9
    assert freeze(model, None) == freeze(model, []) == 0


def test_pattern_matching_nothing_names_the_closest_layers() -> None:
    with torch.device("meta"):
        model = create_model("resnet18")
    with pytest.raises(ValueError, match=r"^freeze pattern 'layer9.\*' matches no parameter of ResNet; "):
        freeze(model, ["layer1.*", "layer9.*"])
    with pytest.raises(ValueError, match="closest layer names: 'layer4', 'layer3', 'layer2'$"):
        freeze(model, "layer9")
    assert count_trainable(model) == n_params(model)  # nothing frozen when a pattern fails
    with pytest.raises(ValueError, match="'backbone' stands alone"):
        freeze(model, ["backbone", "layer1"])
    with torch.device("meta"):
        headless = create_model("resnet18", num_classes=0)
    with pytest.raises(ValueError, match="found no classifier head in ResNet"):
        freeze(headless, "backbone")


def test_frozen_batchnorm_keeps_its_statistics_and_the_optimiser_skips_frozen() -> None:
    from archlab.config import OptimConfig
    from archlab.train.optim import build_optimizer

    torch.manual_seed(0)
    model = create_model("torchvision:resnet18", num_classes=3)
    freeze(model, ["conv1", "bn1", "layer1"])
    optimizer = build_optimizer(model, OptimConfig(name="sgd", lr=0.1, weight_decay=1e-2))
    in_groups = sum(p.numel() for g in optimizer.param_groups for p in g["params"])
    assert in_groups == count_trainable(model) == n_params(model) - 9_536 - 147_968
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    model(torch.randn(4, 3, 32, 32)).square().mean().backward()
    optimizer.step()
    after = model.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"layer2", "layer3", "layer4", "fc"}  # bn1 and layer1's BatchNorm statistics included


def test_config_key_and_training_setup() -> None:
    from archlab.train.setup import build_model_for

    assert load_config(None, ["model.freeze=backbone"]).model.freeze == "backbone"
    assert load_config(None, ["model.freeze=[conv1, layer1.*]"]).model.freeze == ["conv1", "layer1.*"]
    assert load_config().model.freeze is None

    data = SimpleNamespace(name="toy", input_size=(3, 32, 32), num_classes=4)
    cfg = load_config(None, ["model.name=torchvision:resnet18", "model.freeze=backbone"])
    model = build_model_for(cfg, data)
    assert count_trainable(model) == 512 * 4 + 4
    cfg = load_config(None, ["model.name=digits_cnn", "model.freeze=[stem]"])
    with pytest.raises(ValueError, match="^model.freeze: freeze pattern 'stem' matches no parameter"):
        build_model_for(cfg, SimpleNamespace(name="digits", input_size=(1, 8, 8), num_classes=10))
