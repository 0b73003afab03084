"""The model registry: ``register_model``, ``create_model``, ``list_models``.

Every registered factory has the signature
``fn(num_classes: int = <default>, in_chans: int = <default>, **kwargs) -> nn.Module``
and carries metadata: the default input size ``(C, H, W)``, the default number of
classes, and where the model comes from (a seed document, timm, ...).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from torch import nn

from archlab._registry import Registry, closest

MODELS = Registry("model")


def register_model(
    name: str | None = None,
    *,
    input_size: tuple[int, int, int],
    num_classes: int,
    source: str,
    task: str = "single_label",
):
    """Register a model factory with its default input size, class count and source."""
    return MODELS.register(
        name, input_size=tuple(input_size), num_classes=num_classes, source=source, task=task
    )


def model_info(name: str) -> dict[str, Any]:
    """Metadata of a registered model: ``input_size``, ``num_classes``, ``source``, ``task``."""
    _ensure_loaded()
    from archlab.models.spec import is_spec_path, spec_info

    if is_spec_path(name):
        return spec_info(name)
    return dict(MODELS.meta(name), name=name)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, optionally filtered by a shell-style wildcard (``"mnist*"``)."""
    _ensure_loaded()
    return MODELS.names(pattern)


def create_model(
    name: str,
    num_classes: int | None = None,
    in_chans: int | None = None,
    pretrained: bool | str = False,
    **kwargs: Any,
) -> nn.Module:
    """Build the registered model ``name``, or the architecture file ``name`` (a ``.yaml`` path).

    ``num_classes`` and ``in_chans`` default to the model's registered values.
    ``pretrained`` is ``False``, ``True`` (the hub cache) or a path to a local
    weights file (safetensors or a torch checkpoint). Factories that take a
    ``pretrained`` argument (the timm families) load it themselves; for every
    other model the weights are loaded by :func:`archlab.models.pretrained.load_pretrained`,
    with the input bands adapted and a head of another size re-initialised.
    """
    _ensure_loaded()
    from archlab.models.spec import create_from_spec_file, is_spec_path

    if is_spec_path(name):
        if kwargs:
            raise ValueError(
                f"an architecture file takes no model kwargs; edit {name} instead of passing {sorted(kwargs)}"
            )
        model = create_from_spec_file(name, num_classes=num_classes, in_chans=in_chans)
        if pretrained:
            from archlab.models.pretrained import load_pretrained

            load_pretrained(model, pretrained, in_chans=in_chans, num_classes=num_classes)
        return model
    fn = MODELS.get(name)
    meta = MODELS.meta(name)
    num_classes = meta["num_classes"] if num_classes is None else int(num_classes)
    in_chans = meta["input_size"][0] if in_chans is None else int(in_chans)
    if pretrained and "pretrained" in inspect.signature(fn).parameters:
        return _call(name, fn, num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs)
    model = _call(name, fn, num_classes=num_classes, in_chans=in_chans, **kwargs)
    if pretrained:
        if pretrained is True:
            raise ValueError(
                f"model {name!r} has no published weights; pass model.pretrained=PATH to a local weights file"
            )
        from archlab.models.pretrained import load_pretrained

        load_pretrained(model, pretrained, in_chans=in_chans, num_classes=num_classes)
    return model


def _call(name: str, fn, **kwargs: Any) -> nn.Module:
    """Call a factory; an argument it does not take is a one-line ValueError naming the closest one."""
    try:
        return fn(**kwargs)
    except TypeError as exc:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if not match:
            raise
        bad = match.group(1)
        accepted = _accepted_arguments(fn, exc)
        near = closest(bad, accepted, n=1)
        hint = (
            f"did you mean {near[0]!r}?"
            if near
            else f"it takes {', '.join(accepted) or 'no extra arguments'}"
        )
        raise ValueError(f"model {name!r} takes no argument {bad!r} (model.kwargs.{bad}); {hint}") from None


def _accepted_arguments(fn, exc: TypeError) -> list[str]:
    """Keyword arguments of the factory, or of the class it forwards ``**kwargs`` to."""
    params = inspect.signature(fn).parameters
    names = [p for p, v in params.items() if v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD)]
    owner = str(exc).split(".__init__()")[0].strip() if ".__init__()" in str(exc) else None
    if owner and any(v.kind == v.VAR_KEYWORD for v in params.values()):
        stack = [nn.Module]
        while stack:  # the module class named in the error: the factory forwarded **kwargs to it
            cls = stack.pop()
            if cls.__name__ == owner:
                names += [
                    p
                    for p in inspect.signature(cls.__init__).parameters
                    if p not in ("self", "args", "kwargs")
                ]
                break
            stack.extend(cls.__subclasses__())
    return sorted(set(names) - {"num_classes", "in_chans", "kwargs", "pretrained"})


def _ensure_loaded() -> None:
    """Import the modules that register models (done lazily to keep imports light)."""
    import archlab.models  # noqa: F401
