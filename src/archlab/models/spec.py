"""Architectures as data: a YAML file of named layers builds an ``nn.Module``.

A spec is a mapping::

    name: mnist_net3_yaml          # optional
    input_size: [1, 28, 28]        # default input (C, H, W); C is the default in_chans
    num_classes: 10                # default class count; `out: num_classes` refers to it
    task: single_label
    layers:                        # evaluated in order; each output is named
      - {name: c1, op: conv, out: 10, k: 3, bias: false}
      - {op: gelu}
      - {name: skip, op: conv, from: pool, out: 14, k: 1}
      - {op: add, from: [c4, skip]}
      - {op: block, type: basic, out: 64, stride: 2, attention: eca}
      - {op: attention, type: cbam}

Every layer reads the previous layer's output unless ``from`` names another
layer (or ``input``), or a list of layers for ``add``/``mul``/``concat``/``resize``.
``repeat: N`` repeats a layer N times (names get ``_1``, ``_2``, ...; only the first copy
keeps its ``stride``). ``vars``, ``$name``, ``${expression}`` and ``when`` make a file a family
of architectures (:mod:`archlab.models.spec_vars`). The last
layer is the output. Channel counts are tracked, so only ``out`` is ever given.

Primitive ops, with PyTorch's own defaults for omitted arguments:
``conv`` (out, k=3, stride=1, pad=0, dilation=1, groups=1, bias=true), ``bn``,
``gn`` (groups), ``relu``, ``gelu``, ``silu``, ``sigmoid``, ``hardswish``, ``dropout`` (p),
``maxpool`` (k, stride=k, pad=0), ``avgpool`` (k, stride=k), ``gap``, ``flatten``,
``linear`` (out, bias=true), ``add``, ``mul``, ``concat``, ``resize`` (first input to the
spatial size of the second; mode=nearest), and the registries: ``block`` (``type``: any
:func:`archlab.blocks.create_block` name, ``out``, block arguments) and ``attention``
(``type``: any :func:`archlab.blocks.create_attention` name, its arguments).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archlab._registry import closest
from archlab.blocks import create_attention, create_block
from archlab.models.spec_vars import resolve

ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "hardswish": nn.Hardswish,
}
MERGES = ("add", "mul", "concat", "resize")
OPS = (
    "conv",
    "bn",
    "gn",
    "dropout",
    "maxpool",
    "avgpool",
    "gap",
    "flatten",
    "linear",
    "block",
    "attention",
    *ACTIVATIONS,
    *MERGES,
)
# Keys each op accepts besides name/op/from/repeat.
ARGS: dict[str, set[str]] = {
    "conv": {"out", "k", "stride", "pad", "dilation", "groups", "bias"},
    "bn": {"eps", "momentum"},
    "gn": {"groups", "eps"},
    "dropout": {"p"},
    "maxpool": {"k", "stride", "pad"},
    "avgpool": {"k", "stride", "pad"},
    "gap": set(),
    "flatten": set(),
    "linear": {"out", "bias"},
    "resize": {"mode"},
    "add": set(),
    "mul": set(),
    "concat": set(),
    **{a: set() for a in ACTIVATIONS},
}


@dataclass
class _Node:
    name: str
    op: str
    inputs: list[str]


class _Merge(nn.Module):
    """A parameter-free merge of several tensors, so it shows up as a layer in summaries."""

    def __init__(self, op: str, mode: str = "nearest") -> None:
        super().__init__()
        self.op, self.mode = op, mode

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.op == "add":
            out = xs[0]
            for x in xs[1:]:
                out = out + x
            return out
        if self.op == "mul":
            out = xs[0]
            for x in xs[1:]:
                out = out * x
            return out
        if self.op == "concat":
            return torch.cat(xs, dim=1)
        return F.interpolate(xs[0], size=xs[1].shape[-2:], mode=self.mode)

    def extra_repr(self) -> str:
        return self.op if self.op != "resize" else f"resize, mode={self.mode}"


class SpecModel(nn.Module):
    """A network evaluated as an ordered graph of named layers (built by :func:`build_from_spec`)."""

    def __init__(self, nodes: list[_Node], layers: dict[str, nn.Module], output: str) -> None:
        super().__init__()
        self.nodes = nodes
        self.output = output
        for name, module in layers.items():
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {"input": x}
        for node in self.nodes:
            module = getattr(self, node.name)
            env[node.name] = module(*(env[i] for i in node.inputs))
        return env[self.output]


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"architecture spec, {where}: {message}")


def build_from_spec(
    spec: dict[str, Any], num_classes: int | None = None, in_chans: int | None = None
) -> SpecModel:
    """Build the network a spec mapping describes (see the module docstring for the format)."""
    if not isinstance(spec.get("layers"), list) or not spec["layers"]:
        raise _fail("top level", "expected a non-empty 'layers' list")
    known = {"name", "input_size", "num_classes", "task", "layers", "description"}
    for key in spec:
        if key not in known:
            near = closest(str(key), sorted(known), n=1)
            raise _fail(
                "top level", f"unknown key {key!r}" + (f"; did you mean {near[0]!r}?" if near else "")
            )
    input_size = spec.get("input_size", [3, 224, 224])
    num_classes = int(num_classes or spec.get("num_classes", 10))
    channels: dict[str, int] = {"input": int(in_chans or input_size[0])}
    nodes: list[_Node] = []
    modules: dict[str, nn.Module] = {}
    prev = "input"
    for i, raw in enumerate(_expand_repeats(spec["layers"])):
        name = str(raw.get("name") or f"layer{i}")
        where = f"layer {i} ({name})"
        if name in channels:
            raise _fail(where, f"the name {name!r} is used twice")
        op = raw.get("op")
        if op not in OPS:
            near = closest(str(op), OPS, n=2)
            raise _fail(
                where,
                f"unknown op {op!r}" + (f"; did you mean {', '.join(map(repr, near))}?" if near else ""),
            )
        src = raw.get("from", prev)
        inputs = [str(s) for s in (src if isinstance(src, list) else [src])]
        for s in inputs:
            if s not in channels:
                raise _fail(where, f"'from' names {s!r}, which is not an earlier layer")
        args = {k: v for k, v in raw.items() if k not in ("name", "op", "from")}
        if op not in ("block", "attention"):
            unknown = set(args) - ARGS[op]
            if unknown:
                raise _fail(
                    where, f"op {op!r} takes no argument {sorted(unknown)[0]!r}; it takes {sorted(ARGS[op])}"
                )
        if args.get("out") == "num_classes":
            args["out"] = num_classes
        if op in MERGES and len(inputs) < 2:
            raise _fail(where, f"op {op!r} needs 'from' with at least two layers")
        if op not in MERGES and len(inputs) != 1:
            raise _fail(where, f"op {op!r} takes one input, got 'from' with {len(inputs)}")
        cin = channels[inputs[0]]
        module, cout = _make(op, cin, [channels[s] for s in inputs], args, where)
        nodes.append(_Node(name, op, inputs))
        modules[name] = module
        channels[name] = cout
        prev = name
    return SpecModel(nodes, modules, prev)


def _expand_repeats(layers: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i, raw in enumerate(layers):
        if not isinstance(raw, dict):
            raise _fail(f"layer {i}", f"expected a mapping such as {{op: conv, out: 16}}, got {raw!r}")
        raw = dict(raw)
        n = int(raw.pop("repeat", 1))
        if n == 1:
            out.append(raw)
            continue
        base = raw.get("name") or f"layer{i}"
        for k in range(1, n + 1):  # a stage: only its first copy strides
            copy = dict(raw, name=f"{base}_{k}")
            if k > 1 and "stride" in copy:
                copy["stride"] = 1
            out.append(copy)
    return out


def _make(op: str, cin: int, cins: list[int], a: dict[str, Any], where: str) -> tuple[nn.Module, int]:
    try:
        if op == "conv":
            cout = int(a["out"])
            k = a.get("k", 3)
            return nn.Conv2d(
                cin,
                cout,
                k,
                stride=a.get("stride", 1),
                padding=a.get("pad", 0),
                dilation=a.get("dilation", 1),
                groups=a.get("groups", 1),
                bias=a.get("bias", True),
            ), cout
        if op == "bn":
            return nn.BatchNorm2d(cin, eps=a.get("eps", 1e-5), momentum=a.get("momentum", 0.1)), cin
        if op == "gn":
            return nn.GroupNorm(int(a["groups"]), cin, eps=a.get("eps", 1e-5)), cin
        if op in ACTIVATIONS:
            return ACTIVATIONS[op](), cin
        if op == "dropout":
            return nn.Dropout(a.get("p", 0.5)), cin
        if op == "maxpool":
            return nn.MaxPool2d(a["k"], stride=a.get("stride"), padding=a.get("pad", 0)), cin
        if op == "avgpool":
            return nn.AvgPool2d(a["k"], stride=a.get("stride"), padding=a.get("pad", 0)), cin
        if op == "gap":
            return nn.AdaptiveAvgPool2d(1), cin
        if op == "flatten":
            return nn.Flatten(), cin
        if op == "linear":
            cout = int(a["out"])
            return nn.Linear(cin, cout, bias=a.get("bias", True)), cout
        if op == "block":
            args = dict(a)
            kind, cout = args.pop("type"), int(args.pop("out"))
            return create_block(kind, cin, cout, **args), cout
        if op == "attention":
            args = dict(a)
            return create_attention(args.pop("type"), cin, **args), cin
        # merges
        if op in ("add", "mul") and len(set(cins)) > 1:
            raise ValueError(f"op {op!r} needs inputs with equal channels, got {cins}")
        if op == "concat":
            return _Merge(op), sum(cins)
        return _Merge(op, a.get("mode", "nearest")), cin
    except KeyError as exc:
        raise _fail(where, f"op {op!r} needs the argument {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise _fail(where, str(exc)) from None


def read_spec(path: str | Path) -> dict[str, Any]:
    from archlab.config import read_yaml

    return read_yaml(path)


def is_spec_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def spec_info(path: str | Path, **variables: Any) -> dict[str, Any]:
    """Registry-style metadata of a spec file: ``input_size``, ``num_classes``, ``source``, ``task``."""
    spec = resolve(read_spec(path), variables)
    return {
        "name": str(path),
        "input_size": tuple(spec.get("input_size", [3, 224, 224])),
        "num_classes": int(spec.get("num_classes", 10)),
        "source": f"architecture file {Path(path).name}",
        "task": spec.get("task", "single_label"),
    }


def create_from_spec_file(
    path: str | Path, num_classes: int | None = None, in_chans: int | None = None, **variables: Any
) -> SpecModel:
    """Build an architecture file; ``variables`` override its ``vars`` (see :mod:`archlab.models.spec_vars`)."""
    return build_from_spec(resolve(read_spec(path), variables), num_classes=num_classes, in_chans=in_chans)
