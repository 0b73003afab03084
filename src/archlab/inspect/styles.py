"""What torchsummary 1.5.1 and torchinfo 1.8.0 print, re-derived from their documented rules.

These are *estimates*, kept so that a user can reproduce the seeds' published tables and
set them beside archlab's measurements. Their rules (summarised from the tools' behaviour,
see ``docs/inspect.md``):

torchsummary 1.5.1
    forward hook on every module except the model itself, ``Sequential`` and
    ``ModuleList``, one row per call in completion order; the forward runs on a batch of
    2 in the model's current mode; "Param #" is ``numel(module.weight) + numel(module.bias)``
    (other parameters are missed, shared ones counted again); pass size is
    ``2 × 4 B × Σ |prod(output shape with batch −1)|`` in MiB (labelled MB).

torchinfo 1.8.0
    one entry per module call (pre-order); eval mode, no grad, batch as given. Over
    executed *leaf* modules: mult-adds = for "Conv" classes ``(weight + bias elements) ×
    N × prod(spatial out)``, for other parameters named weight/bias ``elements ×
    out.shape[0]``, for other names containing weight/bias ``elements × prod(out.shape[:2])``;
    pass size = ``2 × output bytes`` of leaves that own parameters; params size = bytes
    of leaf parameters. Total params adds the parameters non-leaf modules hold directly
    and those of modules never run. Sizes in MB = 10^6 bytes.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archlab.inspect.summary import check_input_size
from archlab.inspect.trace import preserved_state

# -- torchsummary 1.5.1 ---------------------------------------------------------------------


def _ts_params(module: nn.Module) -> tuple[int, bool | None]:
    params, trainable = 0, None
    weight = getattr(module, "weight", None)
    if hasattr(weight, "size"):
        params += math.prod(weight.size())
        trainable = bool(weight.requires_grad)
    bias = getattr(module, "bias", None)
    if hasattr(bias, "size"):
        params += math.prod(bias.size())
    return params, trainable


def torchsummary_rows(
    model: nn.Module, input_size: tuple[int, ...], batch_size: int = -1, device: str = "cpu"
) -> dict:
    """The rows torchsummary 1.5.1 would build, or the reason it would fail."""
    size = check_input_size(input_size)
    rows: list[dict[str, Any]] = []
    failure: list[str] = []

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        key = f"{type(module).__name__}-{len(rows) + 1}"
        if isinstance(output, (list, tuple)):
            if not all(isinstance(o, torch.Tensor) for o in output):
                failure.append(
                    f"{key} returns {type(output).__name__} holding a non-tensor; torchsummary cannot size it"
                )
                shape: Any = []
            else:
                shape = [[-1, *o.shape[1:]] for o in output]
        elif isinstance(output, torch.Tensor):
            shape = [batch_size, *output.shape[1:]]
        else:
            failure.append(f"{key} returns {type(output).__name__}; torchsummary cannot size it")
            shape = []
        params, trainable = _ts_params(module)
        rows.append({"key": key, "output_shape": shape, "params": params, "trainable": trainable})

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if not isinstance(m, (nn.Sequential, nn.ModuleList)) and m is not model
    ]
    dev = torch.device(device)
    try:
        with preserved_state(model, dev), torch.no_grad():
            torch.manual_seed(0)
            model(torch.rand(2, *size, device=dev))
    finally:
        for h in handles:
            h.remove()
    return {
        "rows": rows,
        "failure": failure[0] if failure else None,
        "input_size": size,
        "batch_size": batch_size,
    }


def _ts_prod(shape: Any) -> int:
    if shape and isinstance(shape[0], list):
        lengths = {len(s) for s in shape}
        if len(lengths) > 1:
            raise ValueError("outputs of different ranks (numpy cannot multiply a ragged list)")
        return math.prod(v for s in shape for v in s)
    return math.prod(shape)


def torchsummary_table(
    model: nn.Module, input_size: tuple[int, ...], batch_size: int = -1, device: str = "cpu"
) -> str:
    """The table torchsummary 1.5.1 prints for ``model`` (a failure message where it would crash)."""
    info = torchsummary_rows(model, input_size, batch_size, device)
    if info["failure"]:
        return f"torchsummary 1.5.1 fails on this model: {info['failure']}"
    rule = "-" * 64
    lines = [rule, "{:>20}  {:>25} {:>15}".format("Layer (type)", "Output Shape", "Param #"), "=" * 64]
    total_params = total_output = trainable = 0
    for row in info["rows"]:
        lines.append(
            "{:>20}  {:>25} {:>15}".format(row["key"], str(row["output_shape"]), f"{row['params']:,}")
        )
        total_params += row["params"]
        try:
            total_output += _ts_prod(row["output_shape"])
        except ValueError as exc:
            return f"torchsummary 1.5.1 fails on this model: {row['key']}: {exc}"
        if row["trainable"]:
            trainable += row["params"]
    mib = 1024**2
    input_mb = abs(math.prod(info["input_size"]) * batch_size * 4.0 / mib)
    output_mb = abs(2.0 * total_output * 4.0 / mib)
    params_mb = abs(total_params * 4.0 / mib)
    lines += [
        "=" * 64,
        f"Total params: {total_params:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total_params - trainable:,}",
        rule,
        f"Input size (MB): {input_mb:0.2f}",
        f"Forward/backward pass size (MB): {output_mb:0.2f}",
        f"Params size (MB): {params_mb:0.2f}",
        f"Estimated Total Size (MB): {params_mb + output_mb + input_mb:0.2f}",
        rule,
    ]
    return "\n".join(lines)


# -- torchinfo 1.8.0 ------------------------------------------------------------------------


@dataclass
class _Entry:
    module: nn.Module
    depth: int
    parent: _Entry | None
    leaf: bool = False
    recursive: bool = False
    num_params: int = 0
    trainable: int = 0
    param_bytes: int = 0
    output_bytes: int = 0
    macs: int = 0
    children: list[_Entry] = field(default_factory=list)

    def count_params(self) -> None:
        self.num_params = self.trainable = self.param_bytes = 0
        for p in self.module.parameters():
            self.num_params += p.numel()
            self.param_bytes += p.numel() * p.element_size()
            if p.requires_grad:
                self.trainable += p.numel()

    def leftover(self, attr: str) -> int:
        own = getattr(self, attr)
        return own - sum(
            getattr(c, attr) if c.leaf else c.leftover(attr) for c in self.children if not c.recursive
        )


def _first_size(value: Any) -> tuple[list[int], int]:
    """Shape and element size of the first tensor torchinfo finds in an output."""
    if isinstance(value, torch.Tensor):
        return list(value.shape), value.element_size()
    if isinstance(value, dict):
        return _first_size(list(value.values())[-1]) if value else ([], 0)
    if isinstance(value, (list, tuple)) and value:
        return _first_size(value[0])
    return [], 0


def _macs(entry: _Entry, out_shape: list[int]) -> int:
    macs = 0
    conv = "Conv" in type(entry.module).__name__
    for name, p in entry.module.named_parameters():
        if name in ("weight", "bias"):
            if conv:
                macs += int(p.numel() * math.prod(out_shape[:1] + out_shape[2:]))
            else:
                macs += (out_shape[0] if out_shape else 0) * p.numel()
        elif "weight" in name or "bias" in name:
            macs += math.prod(out_shape[:2]) * p.numel()
    return macs


def _entries(model: nn.Module, x: torch.Tensor) -> list[_Entry]:
    """Run the forward pass and list one entry per module call, containers inserted."""
    place: dict[int, tuple[int, _Entry | None]] = {}
    fallback: dict[int, _Entry] = {}
    stack: list[tuple[nn.Module, int, _Entry | None]] = [(model, 0, None)]
    while stack:
        module, depth, parent = stack.pop()
        place[id(module)] = (depth, parent)
        fallback[id(module)] = _Entry(module, depth, parent)
        stack += [
            (m, depth + 1, fallback[id(module)])
            for m in reversed(list(module._modules.values()))
            if m is not None
        ]
    calls: list[_Entry] = []
    seen: set[int] = set()
    current: dict[int, _Entry] = {}

    def pre(module: nn.Module, args: Any) -> None:
        depth, parent = place[id(module)]
        e = _Entry(module, depth, parent, leaf=not any(True for _ in module.children()))
        e.count_params()
        e.recursive = id(module) in seen
        seen.add(id(module))
        calls.append(e)
        current[id(module)] = e

    def post(module: nn.Module, args: Any, output: Any) -> None:
        e = current[id(module)]
        shape, elem = _first_size(output)
        e.output_bytes = elem * math.prod(shape)
        e.macs = _macs(e, shape)

    handles = []
    for m in list(place_modules(model)):
        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    try:
        with preserved_state(model, x.device), torch.no_grad():
            model.eval()
            model(x)
    finally:
        for h in handles:
            h.remove()
    _insert_containers(calls, seen)
    for i, e in enumerate(calls):
        j = i + 1
        while j < len(calls) and calls[j].depth > e.depth:
            j += 1
        e.children = calls[i + 1 : j]
    return calls


def place_modules(model: nn.Module) -> list[nn.Module]:
    """Every module object reachable from ``model`` once (hooks are registered once each)."""
    out, ids, todo = [], set(), [model]
    while todo:
        m = todo.pop()
        if id(m) in ids:
            continue
        ids.add(id(m))
        out.append(m)
        todo += [c for c in m._modules.values() if c is not None]
    return out


def _insert_containers(calls: list[_Entry], seen: set[int]) -> None:
    """Insert the never-called containers (e.g. ``ModuleList``) above their called children."""
    current: dict[int, _Entry] = {}
    i = 0
    while i < len(calls):
        e = calls[i]
        chain: dict[int, _Entry] = {}
        p = e.parent
        while p is not None and p.depth > 0:
            chain[p.depth] = p
            p = p.parent
        inserted = 0
        for d in range(1, e.depth):
            want = chain[d]
            if (d not in current or current[d].module is not want.module) and want is not calls[
                i + inserted - 1
            ]:
                want.count_params()
                want.leaf = not any(True for _ in want.module.children())
                want.recursive = id(want.module) in seen
                calls.insert(i + inserted, want)
                seen.add(id(want.module))
                current[d] = want
                inserted += 1
        i += inserted
        current[e.depth] = e
        for d in [k for k in current if k > e.depth]:
            del current[d]
        i += 1


def torchinfo_estimate(
    model: nn.Module, input_size: tuple[int, ...], batch_size: int = 1, device: str = "cpu"
) -> dict[str, Any]:
    """The totals torchinfo 1.8.0 ``summary(model, input_size=(batch, *input_size))`` prints.

    Returns exact integers (``total_mult_adds``, ``*_bytes``) and the printed values
    (``*_mb`` in MB = 10^6 bytes, rounded to 2 decimals as torchinfo prints them).
    """
    size = check_input_size(input_size)
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(0)
        x = torch.rand(int(batch_size), *size, device=dev)
    calls = _entries(model, x)
    total = trainable = macs = out_bytes = param_bytes = 0
    for e in calls:
        if e.leaf:
            macs += e.macs
            if e.num_params > 0:
                out_bytes += 2 * e.output_bytes
            if e.recursive:
                continue
            total += max(e.num_params, 0)
            param_bytes += e.param_bytes
            trainable += max(e.trainable, 0)
        elif not e.recursive:
            total += max(e.leftover("num_params"), 0)
            trainable += max(e.leftover("trainable"), 0)
    # torchinfo sizes the input with sys.getsizeof of its storage (object header included).
    input_bytes = sys.getsizeof(x.untyped_storage())
    return {
        "tool": "torchinfo 1.8.0 (emulated)",
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
        "total_mult_adds": macs,
        "input_bytes": input_bytes,
        "pass_bytes": out_bytes,
        "params_bytes": param_bytes,
        "total_bytes": input_bytes + out_bytes + param_bytes,
        "input_mb": round(input_bytes / 1e6, 2),
        "pass_mb": round(out_bytes / 1e6, 2),
        "params_mb": round(param_bytes / 1e6, 2),
        "total_mb": round((input_bytes + out_bytes + param_bytes) / 1e6, 2),
        "mult_adds_printed": _printed_count(macs),
    }


def _printed_count(n: int) -> str:
    if n >= 1e12:
        return f"{n / 1e12:.2f} T"
    if n >= 1e9:
        return f"{n / 1e9:.2f} G"
    return f"{n / 1e6:.2f} M"
