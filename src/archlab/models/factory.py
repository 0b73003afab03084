"""Seed 003's factory API: ``create_resnet``, ``create_vit``, ``create_efficientnet`` from config dicts.

A config holds ``architecture``, ``num_classes``, ``in_chans``, ``pretrained`` (``True`` or a weights
path), ``freeze_layers`` (the stem and the first N layer groups), ``freeze_backbone`` (all but the
classifier), ``dropout`` and, for ViTs, ``attention_dropout`` and ``img_size``. The models are the
timm-backed ones of :mod:`archlab.models.timm_zoo`; ViTs also offer
``get_attention_maps(image, layer_idx=-1) -> [batch, heads, tokens, tokens]``.

Layer groups are timm's coarse ``group_matcher`` groups: ResNets ``layer1..4``, EfficientNets and
MobileNets the ``blocks.i`` stages, ViTs the transformer blocks, DenseNet the dense blocks. Freezing
sets ``requires_grad=False`` and keeps the frozen BatchNorm layers in eval mode, so their running
statistics stay fixed too (as Keras does for a non-trainable BatchNorm).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from timm.models import group_parameters
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from archlab._registry import closest
from archlab.models.pretrained import find_classifier
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


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the wanted activation is captured."""


def get_attention_maps(model: nn.Module, image: torch.Tensor, layer_idx: int = -1) -> torch.Tensor:
    """Attention weights ``softmax(q·kᵀ/√d)`` of block ``layer_idx`` of a timm ViT: ``[B, heads, tokens, tokens]``.

    timm's fused attention never materialises the weights, so they are recomputed from the
    block's own ``qkv`` projection (and q/k norms) applied to the block's attention input,
    captured by a hook. The model runs in eval mode, without gradients; its mode is restored.
    """
    blocks = getattr(model, "blocks", None)
    if blocks is None or not len(blocks) or not hasattr(blocks[0], "attn"):
        raise ValueError(
            f"get_attention_maps needs a timm ViT with .blocks[i].attn, got {type(model).__name__}"
        )
    depth = len(blocks)
    if not -depth <= layer_idx < depth:
        raise ValueError(
            f"layer_idx must be in [{-depth}, {depth - 1}] for a {depth}-block ViT, got {layer_idx}"
        )
    if image.ndim == 3:
        image = image.unsqueeze(0)
    attn = blocks[layer_idx].attn
    captured: list[torch.Tensor] = []

    def grab(module: nn.Module, args: tuple[Any, ...]) -> None:
        captured.append(args[0])
        raise _StopForward

    handle = attn.register_forward_pre_hook(grab)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                getattr(model, "forward_features", model)(image)
            except _StopForward:
                pass
            if not captured:
                raise ValueError(
                    f"block {layer_idx} of {type(model).__name__} was not reached by forward_features"
                )
            x = captured[0]
            batch, tokens, _ = x.shape
            heads = int(attn.num_heads)
            head_dim = int(getattr(attn, "head_dim", attn.qkv.out_features // (3 * heads)))
            qkv = attn.qkv(x).reshape(batch, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
            q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])
            scale = float(getattr(attn, "scale", head_dim**-0.5))
            return ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1)
    finally:
        handle.remove()
        model.train(was_training)


class ViTWithAttentionMaps(VisionTransformer):
    """A timm ``VisionTransformer`` (same parameters and state_dict) with ``get_attention_maps``."""

    def get_attention_maps(self, image: torch.Tensor, layer_idx: int = -1) -> torch.Tensor:
        """Attention weights of block ``layer_idx``: ``[batch, heads, tokens, tokens]``, rows summing to 1."""
        return get_attention_maps(self, image, layer_idx)


def with_attention_maps(model: nn.Module) -> nn.Module:
    """Give a plain timm ``VisionTransformer`` the ``get_attention_maps`` method; other models pass through."""
    if type(model) is VisionTransformer:
        model.__class__ = ViTWithAttentionMaps  # adds a method only: no state changes
    return model


def _keep_eval(module: nn.Module, args: tuple[Any, ...]) -> None:
    """Forward pre-hook: a frozen BatchNorm normalises with its running statistics and never updates them."""
    if getattr(module, "archlab_frozen", False):
        module.training = False


def freeze(model: nn.Module, names: set[str] | list[str]) -> int:
    """Set ``requires_grad=False`` on the named parameters and fix the BatchNorms all of whose parameters are frozen.

    Returns the number of parameter elements frozen.
    """
    names = set(names)
    params = dict(model.named_parameters())
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(
            f"cannot freeze unknown parameters {unknown[:3]}; use names from model.named_parameters()"
        )
    frozen = 0
    for name in names:
        params[name].requires_grad_(False)
        frozen += params[name].numel()
    for module in model.modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue
        own = list(module.parameters(recurse=False))
        if own and all(not p.requires_grad for p in own):
            if not hasattr(module, "archlab_frozen"):
                module.register_forward_pre_hook(_keep_eval)
            module.archlab_frozen = True
            module.eval()
    return frozen


def unfreeze(model: nn.Module) -> None:
    """Make every parameter trainable again and let frozen BatchNorms update their statistics."""
    for param in model.parameters():
        param.requires_grad_(True)
    for module in model.modules():
        if getattr(module, "archlab_frozen", False):
            module.archlab_frozen = False
            module.train(model.training)


def _classifier_parameters(model: nn.Module) -> set[str]:
    """Names of the classifier's parameters (see ``find_classifier``)."""
    names: set[str] = set()
    for name in find_classifier(model):
        try:
            module = model.get_submodule(name)
        except AttributeError:
            continue
        names |= {f"{name}.{p}" if name else p for p, _ in module.named_parameters()}
    return names


def layer_groups(model: nn.Module) -> tuple[list[str], list[list[str]], list[str]]:
    """Parameter names of the model's ``(stem, [stage 1, stage 2, ...], head)`` by timm's coarse group_matcher.

    The head is the last group when it holds the classifier (it may also hold a final norm or
    ``pre_logits``); the stem is the group matched by the matcher's ``stem`` pattern.
    """
    matcher_fn = getattr(model, "group_matcher", None)
    if matcher_fn is None:
        raise ValueError(
            f"{type(model).__name__} has no layer groups (timm's group_matcher); "
            "use freeze_backbone, or freeze(model, names) with explicit parameter names"
        )
    matcher = matcher_fn(coarse=True)
    groups = [list(names) for names in group_parameters(model, matcher).values()]
    classifier = _classifier_parameters(model)
    head: list[str] = []
    if classifier and groups and classifier & set(groups[-1]):
        head = groups.pop()
    stem = groups.pop(0) if groups and "stem" in matcher else []
    return stem, groups, head


def freeze_first_layers(model: nn.Module, n: int) -> int:
    """Freeze the stem and the first ``n`` layer groups (0 freezes nothing). Returns the elements frozen."""
    if n == 0:
        return 0
    stem, stages, _ = layer_groups(model)
    if not 0 < n <= len(stages):
        raise ValueError(f"freeze_layers must be in 0..{len(stages)} for {type(model).__name__}, got {n}")
    return freeze(model, stem + [name for stage in stages[:n] for name in stage])


def freeze_backbone(model: nn.Module) -> int:
    """Freeze every parameter except the classifier's (a linear probe). Returns the elements frozen."""
    keep = _classifier_parameters(model)
    if not keep:
        raise ValueError(
            f"found no classifier in {type(model).__name__} to keep trainable; freeze explicit names"
        )
    return freeze(model, [n for n, _ in model.named_parameters() if n not in keep])


def count_trainable(model: nn.Module) -> int:
    """Number of parameter elements with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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
        arch,
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
