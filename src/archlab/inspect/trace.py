"""One instrumented forward pass: MACs per aten op, saved activations, receptive fields.

Three instruments watch the same forward pass:

* a ``TorchDispatchMode`` sees every aten operator below autograd (after composite ops
  such as ``linear``, ``matmul``, ``einsum`` and ``scaled_dot_product_attention`` have
  been decomposed into the kernels that actually run) and charges its cost to every
  module on the call stack, kept by forward pre/post hooks;
* ``torch.autograd.graph.saved_tensors_hooks`` sees every tensor autograd saves for the
  backward pass; storages are de-duplicated by identity and only those still
  held at the end of the forward pass count, minus parameters, buffers and the input;
* the receptive-field rules of :mod:`archlab.inspect.receptive` follow each tensor.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakTensorKeyDictionary

from archlab.inspect.ops import ELEMENTWISE, MAC, NORM, UNCOUNTED, op_cost, op_name
from archlab.inspect.receptive import CONST, FINITE, RF, UNDEFINED, input_rf, propagate


@dataclass
class ModuleRecord:
    """What one module did during the traced forward pass (inclusive of its children)."""

    name: str
    type_name: str
    depth: int
    order: int = -1
    calls: int = 0
    macs: int = 0
    norm_elements: int = 0
    elementwise_ops: int = 0
    activation_bytes: int = 0
    output_shapes: tuple[tuple[int, ...], ...] = ()
    rf: RF | None = None


@dataclass
class _Saved:
    nbytes: int
    refs: list[Any]
    stack: tuple[ModuleRecord, ...]


@dataclass
class Trace:
    """Result of :func:`trace_forward`: one record per module, in definition order."""

    records: dict[str, ModuleRecord]
    uncounted: dict[str, int]
    activation_bytes: int
    output_rf: RF
    max_rf: RF | None
    max_rf_layer: str | None
    output_shapes: tuple[tuple[int, ...], ...]
    notes: list[str] = field(default_factory=list)


def tensors_of(value: Any) -> list[torch.Tensor]:
    """Every tensor in a model output: a tensor, or nested lists, tuples and dicts of them."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_of(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_of(v)]
    return []


def storage_key(t: torch.Tensor) -> tuple[str, int]:
    """Identity of a tensor's memory: its device and its storage object.

    The storage object, not its data pointer, so that meta tensors (which have no data and
    all report address 0) are told apart too: memory is then measured without allocating it.
    """
    return (str(t.device), t.untyped_storage()._cdata)


class _Recorder:
    def __init__(self, model: nn.Module, track_rf: bool) -> None:
        self.records: dict[str, ModuleRecord] = {}
        self.by_module: dict[int, ModuleRecord] = {}
        for name, module in model.named_modules():
            rec = ModuleRecord(name, type(module).__name__, 0 if not name else name.count(".") + 1)
            self.records[name] = rec
            self.by_module[id(module)] = rec
        self.stack: list[ModuleRecord] = []
        self.input_rf_stack: list[RF] = []
        self.uncounted: Counter[str] = Counter()
        self.calls = 0
        self.track_rf = track_rf
        self.rf: WeakTensorKeyDictionary = WeakTensorKeyDictionary()
        self.saved: dict[tuple[str, int], _Saved] = {}
        self.excluded: set[tuple[str, int]] = set()
        self.max_rf: RF | None = None
        self.max_rf_layer: str | None = None
        self.notes: list[str] = []

    def lookup(self, t: torch.Tensor) -> RF:
        return self.rf.get(t, RF(CONST))

    # -- operators --------------------------------------------------------------------------
    def on_op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        try:
            cost = op_cost(func, args, kwargs, out)
        except (IndexError, AttributeError, TypeError, ValueError):
            self.uncounted[op_name(func) + " (shape not understood)"] += 1
            cost = None
        if cost is not None:
            if cost.kind == UNCOUNTED:
                self.uncounted[op_name(func)] += 1
            for rec in self.stack:
                if cost.kind == MAC:
                    rec.macs += cost.macs
                elif cost.kind == NORM:
                    rec.norm_elements += cost.elements
                elif cost.kind == ELEMENTWISE:
                    rec.elementwise_ops += cost.elements
        if self.track_rf:
            try:
                rf = propagate(func, args, kwargs, out, self.lookup)
            except (IndexError, AttributeError, TypeError, ValueError, KeyError) as exc:
                self.notes.append(f"receptive field: no rule applied to {op_name(func)} ({exc})")
                rf = RF(UNDEFINED)
            for t in tensors_of(out):
                self.rf[t] = rf

    # -- modules ----------------------------------------------------------------------------
    def pre_hook(self, module: nn.Module, args: tuple) -> None:
        rec = self.by_module[id(module)]
        if rec.calls == 0:
            rec.order = self.calls
            self.calls += 1
        rec.calls += 1
        self.stack.append(rec)
        if self.track_rf:
            first = tensors_of(args)
            self.input_rf_stack.append(self.lookup(first[0]) if first else RF(CONST))

    def post_hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        rec = self.by_module[id(module)]
        if self.stack and self.stack[-1] is rec:
            self.stack.pop()
        outs = tensors_of(output)
        rec.output_shapes = tuple(tuple(t.shape) for t in outs)
        if not self.track_rf:
            return
        in_rf = self.input_rf_stack.pop() if self.input_rf_stack else RF(CONST)
        if not outs:
            return
        out_rf = self.lookup(outs[0])
        # A Linear acts on the last axis only: it keeps the field of channel-last maps.
        if isinstance(module, nn.Linear) and in_rf.kind == FINITE and outs[0].dim() - 1 not in in_rf.axes:
            out_rf = in_rf
            self.rf[outs[0]] = out_rf
        rec.rf = out_rf
        if out_rf.kind == FINITE and (
            self.max_rf is None or math.prod(out_rf.size) > math.prod(self.max_rf.size)
        ):
            self.max_rf, self.max_rf_layer = out_rf, rec.name

    # -- saved tensors ----------------------------------------------------------------------
    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        key = storage_key(t)
        if storage.nbytes() == 0 or key in self.excluded:
            return t
        entry = self.saved.get(key)
        if entry is None or all(ref() is None for ref in entry.refs):
            self.saved[key] = _Saved(storage.nbytes(), [weakref.ref(t)], tuple(self.stack))
        else:
            entry.refs.append(weakref.ref(t))
            entry.nbytes = max(entry.nbytes, storage.nbytes())
        return t

    def kept_bytes(self) -> int:
        """Bytes of saved storages still alive; each is charged to the modules that saved it first."""
        total = 0
        for entry in self.saved.values():
            if any(ref() is not None for ref in entry.refs):
                total += entry.nbytes
                for rec in {id(r): r for r in entry.stack}.values():
                    rec.activation_bytes += entry.nbytes
        return total


class _Dispatch(TorchDispatchMode):
    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.recorder.on_op(func, args, kwargs, out)
        return out


def _cpu_flash_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor | None:
    """The CPU's fused attention kernel on meta tensors, where the CPU would pick it; else ``None``.

    The CPU runs its flash kernel for 4-D inputs whose last dimension is contiguous unless
    dropout is on (checked against real CPU dispatch in the tests).
    """
    qkv = (query, key, value)
    if (
        dropout_p
        or enable_gqa
        or any(t.dim() != 4 or t.stride(-1) != 1 for t in qkv)
        or not all(t.dtype == query.dtype and t.dtype.is_floating_point for t in qkv)
    ):
        return None
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        attn_mask = torch.zeros_like(attn_mask, dtype=query.dtype).masked_fill_(~attn_mask, float("-inf"))
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, 0.0, is_causal, attn_mask=attn_mask, scale=scale
    )[0]


class _MetaAttention(TorchFunctionMode):
    """Attention on meta tensors runs the kernel the CPU would run.

    On meta, ``scaled_dot_product_attention`` always decomposes into the math path, which
    saves the whole attention matrix for backward; the CPU's flash kernel saves only its
    output and log-sum-exp. Without this a meta measurement would overstate a ViT's
    activation memory (by 19 % for ``vit_tiny_patch16_224``).
    """

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention and args and args[0].device.type == "meta":
            fused = _cpu_flash_attention(*args, **kwargs)
            if fused is not None:
                return fused
        return func(*args, **kwargs)


@contextlib.contextmanager
def _hooked(model: nn.Module, recorder: _Recorder) -> Iterator[None]:
    handles = []
    try:
        for _, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(recorder.pre_hook))
            handles.append(module.register_forward_hook(recorder.post_hook, always_call=True))
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def preserved_state(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Restore train/eval flags, buffers (BN running stats) and the RNG state on exit."""
    modes = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            for m, mode in modes:
                m.training = mode
            with torch.no_grad():
                for b, saved in buffers:
                    if b.shape == saved.shape:
                        b.copy_(saved)


def trace_forward(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    measure_activations: bool = True,
    track_rf: bool = True,
) -> Trace:
    """Run ``model(*inputs)`` once under the three instruments and collect what they saw.

    The caller chooses the mode (train/eval) and preserves the model's state. With
    ``measure_activations`` the pass runs with autograd enabled.
    """
    recorder = _Recorder(model, track_rf)
    if track_rf:
        for x in inputs:
            recorder.rf[x] = input_rf(x.dim())
    for t in list(model.parameters()) + list(model.buffers()) + list(inputs):
        recorder.excluded.add(storage_key(t))
    grad = torch.enable_grad() if measure_activations else torch.no_grad()
    saved = (
        torch.autograd.graph.saved_tensors_hooks(recorder.pack, lambda t: t)
        if measure_activations
        else contextlib.nullcontext()
    )
    root = recorder.records[""]
    meta = _MetaAttention() if any(x.device.type == "meta" for x in inputs) else contextlib.nullcontext()
    with grad, saved, _hooked(model, recorder), meta, _Dispatch(recorder):
        output = model(*inputs)
    activation = recorder.kept_bytes() if measure_activations else 0
    outs = tensors_of(output)
    output_rf = recorder.lookup(outs[0]) if outs else RF(CONST)
    shapes = tuple(tuple(t.shape) for t in outs)
    del output, outs
    return Trace(
        records=recorder.records,
        uncounted=dict(sorted(recorder.uncounted.items())),
        activation_bytes=activation,
        output_rf=output_rf if root.rf is None else root.rf,
        max_rf=recorder.max_rf,
        max_rf_layer=recorder.max_rf_layer,
        output_shapes=shapes,
        notes=sorted(set(recorder.notes)),
    )


def _as_inputs(inputs: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    if isinstance(inputs, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in inputs):
        return tuple(inputs)
    raise ValueError(
        f"inputs must be a tensor or a tuple of tensors, got {type(inputs).__name__}; pass model inputs"
    )


def count_macs(model: nn.Module, inputs: Any) -> tuple[int, dict[str, int], dict[str, int]]:
    """MACs of ``model(*inputs)`` counted at the aten level: ``(total, per_module, uncounted)``.

    ``per_module`` maps qualified module names (``""`` is the whole model) to inclusive MACs;
    ``uncounted`` maps operators that carry arithmetic archlab does not count to their call
    counts. The model runs once, in its current mode, without autograd; its state (buffers,
    RNG) is restored afterwards.
    """
    xs = _as_inputs(inputs)
    device = xs[0].device if xs else torch.device("cpu")
    with preserved_state(model, device):
        trace = trace_forward(model, xs, measure_activations=False, track_rf=False)
    per_module = {name: rec.macs for name, rec in trace.records.items() if rec.calls}
    return trace.records[""].macs, per_module, trace.uncounted
