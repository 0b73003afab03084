"""Every timm architecture by its own name: a model source over ``timm.list_models()``.

``create_model(name)`` returns exactly ``timm.create_model(name, num_classes=..., in_chans=...)``
(the same parameter count as timm for the same arguments), with random weights; ``pretrained``
(``True`` for timm's hub weights, or a path to a local weights file) goes through
:mod:`archlab.models.pretrained`, which adapts the first layer to any ``in_chans`` and drops a
head of another size. The input size is timm's default ``pretrained_cfg['input_size']``, read
without building the model; the class count defaults to 1000. ViTs get ``get_attention_maps``
(:mod:`archlab.models.attention_maps`). timm is imported on first use.
"""

from __future__ import annotations

import functools
from typing import Any

from torch import nn

from archlab.models.registry import ModelSource, call_factory, register_source

# The standard families ``archlab models`` lists by default (any other timm name builds as well).
FEATURED = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "seresnet50",
    "densenet121",
    "vgg16",
    "mobilenetv2_100",
    "mobilenetv3_small_100",
    "mobilenetv3_large_100",
    *(f"efficientnet_b{i}" for i in range(8)),
    "vit_tiny_patch16_224",
    "vit_small_patch16_224",
    "vit_base_patch16_224",
)


def check_sizes(name: str, num_classes: int, in_chans: int) -> None:
    """A negative class count or fewer than one input band is a one-line ValueError."""
    if int(num_classes) < 0:
        raise ValueError(f"{name}: num_classes must be >= 0 (0 removes the classifier), got {num_classes}")
    if int(in_chans) < 1:
        raise ValueError(f"{name}: in_chans must be >= 1, got {in_chans}")


class TimmSource(ModelSource):
    """timm's architectures under timm's names."""

    name = "timm"

    def names(self) -> list[str]:
        return list(_names())

    def featured(self) -> list[str]:
        return list(FEATURED)

    def __contains__(self, name: object) -> bool:
        return name in _name_set()

    def info(self, name: str) -> dict[str, Any]:
        import timm

        cfg = timm.models.get_pretrained_cfg(name)
        size = tuple(cfg.input_size) if cfg is not None and cfg.input_size else (3, 224, 224)
        return {"input_size": size, "num_classes": 1000, "source": f"timm {name}", "task": "single_label"}

    def create(
        self,
        name: str,
        num_classes: int | None = None,
        in_chans: int | None = None,
        pretrained: Any = False,
        **kwargs: Any,
    ) -> nn.Module:
        num_classes = 1000 if num_classes is None else int(num_classes)
        in_chans = 3 if in_chans is None else int(in_chans)
        check_sizes(name, num_classes, in_chans)
        import timm

        def build(**kw: Any) -> nn.Module:
            return timm.create_model(name, pretrained=False, **kw)

        model = call_factory(name, build, num_classes=num_classes, in_chans=in_chans, **kwargs)
        from archlab.models.attention_maps import with_attention_maps

        model = with_attention_maps(model)
        if pretrained:
            from archlab.models.pretrained import load_pretrained

            load_pretrained(model, pretrained, in_chans=in_chans, num_classes=num_classes)
        return model


@functools.cache
def _names() -> tuple[str, ...]:
    import timm

    return tuple(sorted(timm.list_models()))


@functools.cache
def _name_set() -> frozenset[str]:
    return frozenset(_names())


register_source(TimmSource())
