"""Freezing layers: ``freeze(model, spec)`` by layer-name patterns, or ``"backbone"`` for a linear probe.

``spec`` is one shell-style pattern or a list of them, matched (``fnmatch``, case-sensitive)
against every parameter name and every enclosing module name: ``"layer1"``, ``"layer1.*"``
and ``"layer1*"`` all freeze ResNet's ``layer1``; ``"conv1.weight"`` freezes one tensor. A
pattern that matches nothing is a ``ValueError`` naming the closest layer names. ``"backbone"``
freezes every parameter except the classifier head's. The head is, in this order:

1. timm's ``model.get_classifier()``;
2. the last Linear (or conv) layer inside a child called ``fc``, ``classifier``, ``heads`` or
   ``head`` (torchvision's names, and the seeds');
3. the last Linear or conv layer with ``num_classes`` outputs (any output size when unknown).

BatchNorm: a BatchNorm layer all of whose parameters are frozen is also held in eval mode. It
normalises with its running statistics and never updates them, even after ``model.train()``
(timm's ``freeze`` swaps in ``FrozenBatchNorm2d`` to the same end; Keras treats a non-trainable
BatchNorm so too). A frozen layer therefore stays bit-identical through training.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from torch import nn

from archlab._registry import closest
from archlab.models.pretrained import find_classifier

HEAD_NAMES = ("fc", "classifier", "heads", "head")
FreezeSpec = str | Iterable[str] | None


def freeze(model: nn.Module, spec: FreezeSpec, num_classes: int | None = None) -> int:
    """Freeze the parameters ``spec`` names (patterns, or ``"backbone"``); return the elements frozen.

    ``None`` or an empty list freezes nothing. ``num_classes`` helps find the head of a model
    that has no ``get_classifier``/``fc``/``classifier``/``heads``/``head``.
    """
    patterns = [spec] if isinstance(spec, str) else list(spec or [])
    if not patterns:
        return 0
    if "backbone" in patterns:
        if len(patterns) > 1:
            raise ValueError(
                f"freeze 'backbone' stands alone, got {patterns}; use it alone, or list layer-name patterns"
            )
        return freeze_backbone(model, num_classes)
    params = [name for name, _ in model.named_parameters()]
    chosen: list[str] = []
    for pattern in patterns:
        hits = [name for name in params if _matches(name, str(pattern))]
        if not hits:
            raise ValueError(_no_match(model, str(pattern)))
        chosen += [h for h in hits if h not in chosen]
    return freeze_parameters(model, chosen)


def _matches(param: str, pattern: str) -> bool:
    """``pattern`` matches the parameter name or the name of a module enclosing it."""
    parts = param.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))


def _no_match(model: nn.Module, pattern: str) -> str:
    layers = [name for name, _ in model.named_modules() if name]
    near = closest(pattern.replace("*", "").rstrip("."), layers)
    top = [name for name, _ in model.named_children()]
    hint = (
        f"closest layer names: {', '.join(map(repr, near))}"
        if near
        else f"its top-level layers are {', '.join(top[:8])}{', ...' if len(top) > 8 else ''}"
    )
    return f"freeze pattern {pattern!r} matches no parameter of {type(model).__name__}; {hint}"


def _keep_eval(module: nn.Module, args: tuple[Any, ...]) -> None:
    """Forward pre-hook: a frozen BatchNorm normalises with its running statistics and never updates them."""
    if getattr(module, "archlab_frozen", False):
        module.training = False


def freeze_parameters(model: nn.Module, names: Iterable[str]) -> int:
    """Set ``requires_grad=False`` on the named parameters and hold the fully frozen BatchNorms in eval mode.

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


def _has_params(module: Any) -> bool:
    return isinstance(module, nn.Module) and any(True for _ in module.parameters())


def _last_layer(module: nn.Module, num_classes: int | None) -> str | None:
    """Name (inside ``module``) of its last Linear/conv layer, preferring one with ``num_classes`` outputs."""
    found: list[tuple[str, int]] = []
    for name, sub in module.named_modules():
        if isinstance(sub, nn.Linear):
            found.append((name, sub.out_features))
        elif isinstance(sub, nn.modules.conv._ConvNd):
            found.append((name, sub.out_channels))
    sized = [name for name, out in found if out == num_classes]
    if sized:
        return sized[-1]
    return found[-1][0] if found else None


def find_head(model: nn.Module, num_classes: int | None = None) -> list[str]:
    """Module names of the classifier head (see the module docstring for the order of the rules)."""
    names = {id(m): n for n, m in model.named_modules()}
    get = getattr(model, "get_classifier", None)
    if callable(get):
        got = get()
        heads = got if isinstance(got, tuple | list) else [got]
        found = [names[id(h)] for h in heads if _has_params(h) and id(h) in names]
        if found:
            return found
    for attr in HEAD_NAMES:
        child = getattr(model, attr, None)
        if _has_params(child) and id(child) in names:
            inner = _last_layer(child, num_classes)
            if inner is not None:
                return [f"{attr}.{inner}" if inner else attr]
    return find_classifier(model, num_classes)


def head_parameters(model: nn.Module, num_classes: int | None = None) -> set[str]:
    """Names of the head's parameters (see :func:`find_head`)."""
    out: set[str] = set()
    for name in find_head(model, num_classes):
        try:
            module = model.get_submodule(name)
        except AttributeError:
            continue
        out |= {f"{name}.{p}" if name else p for p, _ in module.named_parameters()}
    return out


def freeze_backbone(model: nn.Module, num_classes: int | None = None) -> int:
    """Freeze every parameter except the classifier head's (a linear probe). Returns the elements frozen."""
    keep = head_parameters(model, num_classes)
    if not keep:
        raise ValueError(
            f"found no classifier head in {type(model).__name__} to keep trainable; "
            "freeze layers by name patterns instead (e.g. model.freeze=['stem.*', 'layer1.*'])"
        )
    return freeze_parameters(model, [n for n, _ in model.named_parameters() if n not in keep])


def layer_groups(model: nn.Module) -> tuple[list[str], list[list[str]], list[str]]:
    """Parameter names of the model's ``(stem, [stage 1, stage 2, ...], head)`` by timm's coarse group_matcher.

    The head is the last group when it holds the classifier (it may also hold a final norm or
    ``pre_logits``); the stem is the group matched by the matcher's ``stem`` pattern.
    """
    matcher_fn = getattr(model, "group_matcher", None)
    if matcher_fn is None:
        raise ValueError(
            f"{type(model).__name__} has no layer groups (timm's group_matcher); "
            "use freeze_backbone, or freeze(model, patterns) with layer-name patterns"
        )
    from timm.models import group_parameters

    matcher = matcher_fn(coarse=True)
    groups = [list(names) for names in group_parameters(model, matcher).values()]
    classifier = head_parameters(model)
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
    return freeze_parameters(model, stem + [name for stage in stages[:n] for name in stage])


def count_trainable(model: nn.Module) -> int:
    """Number of parameter elements with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
