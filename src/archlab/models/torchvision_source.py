"""Every torchvision classification model by its own name: a model source over ``torchvision.models``.

The names are ``torchvision.models.list_models(module=torchvision.models)`` (classification
builders only: detection, segmentation and video live in submodules). ``create_model(name)``
calls the builder with ``weights=None`` and ``num_classes``; ``in_chans`` other than 3 replaces
the first convolution by one taking ``in_chans`` bands, its random filters mapped by the band
rule of :mod:`archlab.models.pretrained` (``(in_chans − 3)·out·k²`` more parameters, as timm).
GoogLeNet and Inception-v3 are built without their auxiliary classifiers (``aux_logits=False``,
so the forward returns one tensor in training too; pass ``aux_logits=True`` for them).

The default input size is the crop size of the builder's published weights, the smallest one
when there are several (a ViT built without weights takes 224×224 only): 3×299×299 for
Inception-v3, 3×600×600 for EfficientNet-B7, 3×224×224 for most. ``pretrained=True`` loads the
published weights at that size from torch's hub cache (``$TORCH_HOME/hub/checkpoints``),
downloading them when online; a path loads a local file. Both adapt the bands.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archlab.models.registry import ModelSource, call_factory, register_source
from archlab.models.timm_source import check_sizes

# Builder arguments archlab sets unless the caller does: one output tensor, and the current
# initialisation without torchvision's FutureWarning about it.
DEFAULT_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}
AUX_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")


class TorchvisionSource(ModelSource):
    """torchvision's classification models under torchvision's names."""

    name = "torchvision"

    def names(self) -> list[str]:
        return list(_names())

    def __contains__(self, name: object) -> bool:
        return name in _name_set()

    def info(self, name: str) -> dict[str, Any]:
        size = min(_crop_sizes(name), default=224)
        return {
            "input_size": (3, size, size),
            "num_classes": 1000,
            "source": f"torchvision {name}",
            "task": "single_label",
        }

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
        import torchvision.models as tvm

        builder = tvm.get_model_builder(name)
        options = {**DEFAULT_KWARGS.get(name, {}), **kwargs}
        model = call_factory(name, builder, weights=None, num_classes=num_classes, **options)
        if in_chans != 3:
            adapt_first_conv(model, in_chans)
        if pretrained:
            from archlab.models.pretrained import load_pretrained

            source = (
                hub_state_dict(name, model, self.info(name)["input_size"][1])
                if pretrained is True
                else pretrained
            )
            load_pretrained(model, source, in_chans=in_chans, num_classes=num_classes)
        return model


@functools.cache
def _names() -> tuple[str, ...]:
    import torchvision.models as tvm

    return tuple(sorted(tvm.list_models(module=tvm)))


@functools.cache
def _name_set() -> frozenset[str]:
    return frozenset(_names())


def _weights(name: str) -> list[Any]:
    import torchvision.models as tvm

    try:
        return list(tvm.get_model_weights(name))
    except (ValueError, KeyError):
        return []


def _crop_sizes(name: str) -> list[int]:
    sizes = []
    for weights in _weights(name):
        crop = getattr(weights.transforms, "keywords", {}).get("crop_size")
        if crop:
            sizes.append(int(crop if isinstance(crop, int) else crop[0]))
    return sizes


def adapt_first_conv(model: nn.Module, in_chans: int) -> str:
    """Replace the model's first convolution by one taking ``in_chans`` bands; return its name.

    The new filters are the old (random or loaded) ones mapped by the band rule of
    :func:`archlab.models.pretrained.adapt_input_weight`; bias, stride and padding are kept.
    """
    from archlab.models.pretrained import adapt_input_weight, find_first_conv

    names = find_first_conv(model)
    if not names:
        raise ValueError(f"{type(model).__name__} has no convolution to take in_chans={in_chans}")
    name = names[0]
    conv = model.get_submodule(name)
    if conv.in_channels == in_chans:
        return name
    if conv.groups != 1:
        raise ValueError(
            f"{type(model).__name__}: the first convolution {name!r} is grouped; in_chans must stay 3"
        )
    new = type(conv)(
        in_chans,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    with torch.no_grad():
        new.weight.copy_(adapt_input_weight(conv.weight, in_chans))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)
    return name


def hub_state_dict(
    name: str, model: nn.Module, size: int, timeout_s: float = 10.0
) -> dict[str, torch.Tensor]:
    """torchvision's published weights for ``name`` at crop ``size``: from torch's hub cache, else downloaded.

    Auxiliary-classifier weights the model does not have (GoogLeNet, Inception-v3) are dropped.
    Without the file in the cache and with the server unreachable, a one-line ``FileNotFoundError``.
    """
    from archlab.models.pretrained import _reachable, read_state_dict

    choices = _weights(name)
    if not choices:
        raise FileNotFoundError(
            f"torchvision publishes no weights for {name!r}; pass pretrained='path/to/weights.pth'"
        )
    import torchvision.models as tvm

    default = tvm.get_model_weights(name).DEFAULT
    at_size = [w for w in choices if getattr(w.transforms, "keywords", {}).get("crop_size") == size]
    weights = default if default in at_size or not at_size else at_size[0]
    filename = weights.url.rsplit("/", 1)[-1]
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    if (cache / filename).is_file():
        state = read_state_dict(cache / filename)
    else:
        host = "/".join(weights.url.split("/")[:3])
        problem = _reachable(host, timeout_s)
        if problem is not None:
            raise FileNotFoundError(
                f"torchvision's {weights} for {name!r} are not cached under {cache} and {host} cannot be "
                f"reached ({problem}); go online, or pass pretrained='path/to/weights.pth'"
            )
        state = torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=False)
    keys = set(model.state_dict())
    return {k: v for k, v in state.items() if k in keys or not k.startswith(AUX_PREFIXES)}


register_source(TorchvisionSource())
