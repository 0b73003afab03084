"""Seed 003's factory API: config validation, dropout mapping, freezing and ViT attention maps."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
from torch import nn

from archlab.models.factory import (
    count_trainable,
    create_efficientnet,
    create_resnet,
    create_vit,
    freeze_backbone,
    freeze_first_layers,
    get_attention_maps,
    layer_groups,
    unfreeze,
)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def sgd_step(model: nn.Module, x: torch.Tensor) -> None:
    """One SGD step with momentum and weight decay on all parameters (frozen ones included)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    model.train()
    loss = model(x).square().mean()
    loss.backward()
    opt.step()


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_create_resnet_from_seed_config() -> None:
    model = create_resnet(
        {"architecture": "resnet18", "num_classes": 10, "pretrained": False, "dropout": 0.2}
    )
    assert model.fc.out_features == 10
    assert model.drop_rate == 0.2
    assert n_params(model) == 11_689_512 - 512 * 990 - 990


def test_freeze_layers_freezes_stem_and_first_groups_and_survives_a_step() -> None:
    torch.manual_seed(0)
    model = create_resnet({"architecture": "resnet18", "num_classes": 10, "freeze_layers": 2})
    frozen = (model.conv1, model.bn1, model.layer1, model.layer2)
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in (model.layer3, model.layer4, model.fc) for p in m.parameters())
    assert count_trainable(model) == n_params(model) - sum(n_params(m) for m in frozen)

    before = snapshot(model)
    sgd_step(model, torch.randn(2, 3, 32, 32))
    after = model.state_dict()
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        if key.startswith(("conv1.", "bn1.", "layer1.", "layer2.")):
            assert not changed, key  # weights and BatchNorm running statistics alike
        elif key.endswith(("weight", "running_mean")) and key.startswith(("layer3.", "layer4.", "fc.")):
            assert changed, key


def test_freeze_backbone_leaves_only_the_classifier_trainable() -> None:
    torch.manual_seed(0)
    model = create_efficientnet(
        {"architecture": "efficientnet_b0", "num_classes": 7, "freeze_backbone": True}
    )
    assert count_trainable(model) == 1280 * 7 + 7
    before = snapshot(model)
    sgd_step(model, torch.randn(2, 3, 64, 64))
    after = model.state_dict()
    assert [k for k in before if not torch.equal(before[k], after[k])] == [
        "classifier.weight",
        "classifier.bias",
    ]


def test_unfreeze_restores_training() -> None:
    model = create_resnet({"architecture": "resnet18", "num_classes": 3, "freeze_backbone": True})
    unfreeze(model)
    assert count_trainable(model) == n_params(model)
    model.train()
    before = model.bn1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32) + 1.0)
    assert not torch.equal(before, model.bn1.running_mean)


def test_layer_groups_per_family() -> None:
    with torch.device("meta"):
        resnet = timm.create_model("resnet50")
        effnet = timm.create_model("efficientnet_b0")
        vit = timm.create_model("vit_tiny_patch16_224")
    stem, stages, head = layer_groups(resnet)
    assert stem == ["conv1.weight", "bn1.weight", "bn1.bias"]
    assert [s[0].split(".")[0] for s in stages] == ["layer1", "layer2", "layer3", "layer4"]
    assert head == ["fc.weight", "fc.bias"]
    assert len(layer_groups(effnet)[1]) == 7
    stem, stages, head = layer_groups(vit)
    assert set(stem) == {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"}
    assert len(stages) == 12 and head == ["head.weight", "head.bias"]


def test_freeze_layers_out_of_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"freeze_layers must be in 0\.\.4"):
        create_resnet({"architecture": "resnet18", "num_classes": 2, "freeze_layers": 5})
    with torch.device("meta"):
        model = timm.create_model("efficientnet_b0")
    with pytest.raises(ValueError, match=r"0\.\.7"):
        freeze_first_layers(model, 8)


def test_config_mistakes_suggest_fixes() -> None:
    with pytest.raises(ValueError, match="did you mean 'freeze_layers'"):
        create_resnet({"architecture": "resnet18", "freeze_layer": 2})
    with pytest.raises(ValueError, match="did you mean 'resnet50'"):
        create_resnet({"architecture": "resnet05"})
    with pytest.raises(ValueError, match="unknown config key 'attention_dropout'"):
        create_resnet({"architecture": "resnet18", "attention_dropout": 0.1})
    with pytest.raises(ValueError, match="efficientnet_b3"):
        create_efficientnet({"architecture": "efficientnet-b3"})
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        create_vit({"architecture": "vit_tiny_patch16_224", "dropout": 1.5})


def test_vit_dropouts_follow_the_paper() -> None:
    model = create_vit(
        {"architecture": "vit_tiny_patch16_224", "num_classes": 10, "dropout": 0.1, "attention_dropout": 0.2}
    )
    block = model.blocks[0]
    assert block.attn.attn_drop.p == 0.2
    assert block.attn.proj_drop.p == block.mlp.drop1.p == block.mlp.drop2.p == 0.1
    assert model.pos_drop.p == 0.1
    assert model.head.out_features == 10


@pytest.fixture(scope="module")
def small_vit() -> nn.Module:
    torch.manual_seed(0)
    return create_vit(
        {"architecture": "vit_tiny_patch16_224", "num_classes": 5, "img_size": 64, "freeze_layers": 3}
    )


def test_vit_freeze_layers_covers_embeddings_and_blocks(small_vit: nn.Module) -> None:
    frozen = {n for n, p in small_vit.named_parameters() if not p.requires_grad}
    assert {"cls_token", "pos_embed", "patch_embed.proj.weight"} <= frozen
    assert all(n.split(".")[1] in {"0", "1", "2"} for n in frozen if n.startswith("blocks."))
    assert all(p.requires_grad for p in small_vit.blocks[3].parameters())


def test_attention_maps_shape_rows_and_fused_equivalence(small_vit: nn.Module) -> None:
    x = torch.randn(2, 3, 64, 64)
    small_vit.train()
    maps = small_vit.get_attention_maps(x, layer_idx=-1)
    assert small_vit.training  # mode restored
    tokens = 1 + (64 // 16) ** 2
    assert maps.shape == (2, 3, tokens, tokens)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 3, tokens))

    # The unfused timm path materialises softmax(q·kᵀ·scale) before attn_drop: the same weights.
    vit = copy.deepcopy(small_vit).eval()
    attn = vit.blocks[1].attn
    attn.fused_attn = False
    seen: list[torch.Tensor] = []
    handle = attn.attn_drop.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    with torch.no_grad():
        vit(x)
    handle.remove()
    torch.testing.assert_close(get_attention_maps(vit, x, layer_idx=1), seen[0])


def test_attention_maps_bad_layer_is_a_value_error(small_vit: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"layer_idx must be in \[-12, 11\]"):
        small_vit.get_attention_maps(torch.randn(1, 3, 64, 64), layer_idx=12)


def test_vit_keeps_timm_state_dict_keys(small_vit: nn.Module) -> None:
    with torch.device("meta"):
        plain = timm.create_model("vit_tiny_patch16_224", num_classes=5, img_size=64)
    assert list(small_vit.state_dict()) == list(plain.state_dict())
    assert isinstance(small_vit, type(plain))


def test_freeze_backbone_on_vit() -> None:
    with torch.device("meta"):
        model = timm.create_model("vit_tiny_patch16_224", num_classes=4)
    frozen = freeze_backbone(model)
    assert frozen == n_params(model) - (192 * 4 + 4)
