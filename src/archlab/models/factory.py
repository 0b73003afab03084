"""Seed 003's factory API: ``create_resnet``, ``create_vit``, ``create_efficientnet`` from config dicts.

A config holds ``architecture``, ``num_classes``, ``in_chans``, ``pretrained`` (``True`` or a weights
path), ``freeze_layers`` (the stem and the first N layer groups), ``freeze_backbone`` (all but the
classifier), ``dropout`` and, for ViTs, ``attention_dropout`` and ``img_size``.

A thin layer over :func:`archlab.create_model`: each config becomes one
``create_model("timm:<architecture>", ...)`` call plus the freezing helpers of
:mod:`archlab.models.freeze`; ViTs offer ``get_attention_maps(image, layer_idx=-1)``
(:mod:`archlab.models.attention_maps`). Layer groups are timm's coarse ``group_matcher`` groups:
ResNets ``layer1..4``, EfficientNets and MobileNets the ``blocks.i`` stages, ViTs the transformer
blocks, DenseNet the dense blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from archlab._registry import closest
from archlab.models.attention_maps import ViTWithAttentionMaps, get_attention_maps, with_attention_maps
from archlab.models.freeze import (
    count_trainable,
    freeze,
    freeze_backbone,
    freeze_first_layers,
    layer_groups,
    unfreeze,
)
from archlab.models.registry import create_model

RESNET_ARCHITECTURES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "seresnet50",
)
VIT_ARCHITECTURES = ("vit_tiny_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224")
EFFICIENTNET_ARCHITECTURES = tuple(f"efficientnet_b{i}" for i in range(8))
COMMON_KEYS = (
    "architecture",
    "num_classes",
    "in_chans",
    "pretrained",
    "freeze_layers",
    "freeze_backbone",
    "dropout",
)
VIT_KEYS = COMMON_KEYS + ("attention_dropout", "img_size")

__all__ = [
    "EFFICIENTNET_ARCHITECTURES",
    "RESNET_ARCHITECTURES",
    "VIT_ARCHITECTURES",
    "ViTWithAttentionMaps",
    "count_trainable",
    "create_efficientnet",
    "create_resnet",
    "create_vit",
    "freeze",
    "freeze_backbone",
    "freeze_first_layers",
    "get_attention_maps",
    "layer_groups",
    "unfreeze",
    "with_attention_maps",
]


def _check_config(
    config: Mapping[str, Any], fn: str, keys: tuple[str, ...], choices: tuple[str, ...], default: str
) -> str:
    """Validate a config's keys, architecture and dropout values; return the architecture name."""
    if not isinstance(config, Mapping):
        raise ValueError(
            f"{fn} expects a dict config such as {{'architecture': {default!r}}}, got {config!r}"
        )
    for key in config:
        if key not in keys:
            near = closest(str(key), keys)
            hint = f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(keys)}"
            raise ValueError(f"{fn}: unknown config key {key!r}; {hint}")
    arch = str(config.get("architecture", default))
    if arch not in choices:
        near = closest(arch, choices)
        hint = (
            f"did you mean {', '.join(map(repr, near))}?" if near else f"choose one of {', '.join(choices)}"
        )
        raise ValueError(f"{fn}: unknown architecture {arch!r}; {hint}")
    dropouts = [k for k in ("dropout", "attention_dropout") if config.get(k) is not None]
    for key in dropouts:
        if not 0.0 <= float(config[key]) < 1.0:
            raise ValueError(f"{fn}: {key} must be in [0, 1), got {config[key]}")
    return arch


def _build(config: Mapping[str, Any], arch: str, kwargs: dict[str, Any]) -> nn.Module:
    """Create the registered model, load weights, then apply the freezing options."""
    model = create_model(
        f"timm:{arch}",
        num_classes=config.get("num_classes"),
        in_chans=config.get("in_chans"),
        pretrained=config.get("pretrained", False),
        **kwargs,
    )
    if config.get("freeze_backbone", False):
        freeze_backbone(model)
    n = int(config.get("freeze_layers", 0) or 0)
    if n:
        freeze_first_layers(model, n)
    return model


def create_resnet(config: Mapping[str, Any]) -> nn.Module:
    """A ResNet/ResNeXt/SE-ResNet (He et al., 2016) from a seed-003 config; ``dropout`` is before ``fc``."""
    arch = _check_config(config, "create_resnet", COMMON_KEYS, RESNET_ARCHITECTURES, "resnet50")
    kwargs = {} if config.get("dropout") is None else {"drop_rate": float(config["dropout"])}
    return _build(config, arch, kwargs)


def create_efficientnet(config: Mapping[str, Any]) -> nn.Module:
    """An EfficientNet-B0..B7 (Tan & Le, 2019) from a seed-003 config; ``dropout`` is before the classifier."""
    arch = _check_config(
        config, "create_efficientnet", COMMON_KEYS, EFFICIENTNET_ARCHITECTURES, "efficientnet_b0"
    )
    kwargs = {} if config.get("dropout") is None else {"drop_rate": float(config["dropout"])}
    return _build(config, arch, kwargs)


def create_vit(config: Mapping[str, Any]) -> nn.Module:
    """A ViT (Dosovitskiy et al., 2021) from a seed-003 config, with ``get_attention_maps``.

    ``dropout`` follows the paper: after the position embedding and after every dense layer but
    qkv (timm's ``pos_drop_rate`` and ``proj_drop_rate``); ``attention_dropout`` drops attention
    weights (``attn_drop_rate``); ``img_size`` changes the input resolution.
    """
    arch = _check_config(config, "create_vit", VIT_KEYS, VIT_ARCHITECTURES, "vit_base_patch16_224")
    kwargs: dict[str, Any] = {}
    if config.get("dropout") is not None:
        kwargs["pos_drop_rate"] = kwargs["proj_drop_rate"] = float(config["dropout"])
    if config.get("attention_dropout") is not None:
        kwargs["attn_drop_rate"] = float(config["attention_dropout"])
    if config.get("img_size") is not None:
        kwargs["img_size"] = config["img_size"]
    return with_attention_maps(_build(config, arch, kwargs))
