"""The rows behind ``archlab models``: name, source, input size, classes and parameter counts.

Listing reads each source's metadata without building a model; parameters are counted (on the
meta device, no weights allocated) only when asked. The MAC column and the rendering are
:mod:`archlab.inspect.zoo`'s, above this layer.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from archlab.models.registry import PRECEDENCE, create_model, get_source, select_models


def build_on_meta(name: str, **kwargs: Any) -> nn.Module:
    """Build ``name`` without allocating its weights.

    Everything is built on the meta device; a constructor that needs real values (torchvision's
    RegNets compute their widths with ``.tolist()``) is built with only its parameters and
    buffers on the meta device, and as a last resort on the CPU.
    """
    try:
        with torch.device("meta"):
            return create_model(name, **kwargs)
    except (NotImplementedError, RuntimeError):
        pass
    try:
        with tensors_on_meta():
            return create_model(name, **kwargs)
    except (NotImplementedError, RuntimeError):
        return create_model(name, **kwargs)


@contextlib.contextmanager
def tensors_on_meta():
    """Move every parameter and buffer a module registers to the meta device as it is registered."""
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer(self: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
        register_buffer(self, name, None if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer  # type: ignore[method-assign]


def count_params(model: nn.Module) -> int:
    """Parameters counted once per unique tensor (tied weights once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def _others(library: str, bare: str, source: str) -> list[str]:
    """The other sources that know ``bare``, in precedence order; archlab's own listing imports no library."""
    keys = ("archlab",) if source == "archlab" else PRECEDENCE
    return [k for k in keys if k != library and bare in get_source(k)]


def model_rows(
    pattern: str | None = None,
    source: str = "featured",
    params: bool = True,
) -> list[dict[str, Any]]:
    """One dict per model of the selection ``source`` whose name matches ``pattern``.

    Keys: ``name`` (the name that builds it), ``library``, ``input_size``, ``num_classes``,
    ``task``, ``source`` (a description), ``also`` (the other sources that know the same bare
    name; the first of archlab, timm, torchvision builds it unprefixed), and
    ``params`` when ``params`` (else ``None``).
    """
    entries = select_models(pattern, source)
    if not entries:
        where = "" if source == "featured" else f" in --source {source}"
        raise ValueError(
            f"no registered model matches {pattern!r}{where}; list every source with --source all"
        )
    rows = []
    for library, bare, name in entries:
        info = get_source(library).info(bare)
        row: dict[str, Any] = {
            "name": name,
            "library": library,
            "params": None,
            "input_size": list(info["input_size"]),
            "num_classes": info["num_classes"],
            "task": info["task"],
            "source": info["source"],
            "also": _others(library, bare, source),
        }
        if params:
            row["params"] = count_params(build_on_meta(name))
        rows.append(row)
    return rows
