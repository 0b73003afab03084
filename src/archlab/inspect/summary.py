"""``summarize``: parameters, MACs, activation memory and receptive field of a model, measured."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archlab.inspect import render
from archlab.inspect.receptive import FINITE
from archlab.inspect.trace import ModuleRecord, preserved_state, trace_forward


@dataclass(frozen=True)
class LayerRow:
    """One module of the summary, with figures inclusive of its children."""

    name: str
    type: str
    depth: int
    output_shape: tuple[int, ...] | None
    params: int
    macs: int
    norm_elements: int
    elementwise_ops: int
    activation_bytes: int
    receptive_field: str
    stride: str
    calls: int

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        return d


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field at the model output, and the largest finite one met on the way."""

    output: str
    output_stride: str
    largest: str | None
    largest_stride: str | None
    largest_layer: str | None

    def __str__(self) -> str:
        text = f"output {self.output}" + (f" (stride {self.output_stride})" if self.output_stride else "")
        if self.largest is not None:
            text += f"; largest finite {self.largest} (stride {self.largest_stride}) at {self.largest_layer}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ModelSummary:
    """Everything :func:`summarize` measured; render with ``to_table``/``to_markdown``/``to_dict``."""

    model_name: str
    input_size: tuple[int, ...]
    batch_size: int
    dtype: str
    device: str
    total_params: int
    trainable_params: int
    frozen_params: int
    buffer_elements: int
    buffer_bytes: int
    params_bytes: int
    macs: int
    flops: int
    norm_elements: int
    elementwise_ops: int
    activation_bytes: int
    input_bytes: int
    output_shape: tuple[int, ...] | None
    rows: list[LayerRow]
    uncounted_ops: dict[str, int]
    receptive_field: ReceptiveField
    depth: int
    torch_version: str
    notes: list[str] = field(default_factory=list)

    def to_table(self) -> str:
        return render.table(self)

    def to_markdown(self) -> str:
        return render.markdown(self)

    def to_dict(self) -> dict[str, Any]:
        return render.as_dict(self)


def tensor_key(t: torch.Tensor) -> tuple[Any, ...]:
    """Identity of a parameter's values: tensors sharing storage, offset and shape are one tensor.

    The storage object identifies the memory, so tied weights are one tensor on the meta device too.
    """
    return (str(t.device), t.untyped_storage()._cdata, t.storage_offset(), tuple(t.shape), tuple(t.stride()))


def unique_numel(tensors: Any) -> tuple[int, int]:
    """``(elements, bytes)`` of ``tensors``, each distinct tensor counted once."""
    seen: set[tuple[Any, ...]] = set()
    numel = nbytes = 0
    for t in tensors:
        key = tensor_key(t)
        if key in seen:
            continue
        seen.add(key)
        numel += t.numel()
        nbytes += t.numel() * t.element_size()
    return numel, nbytes


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameters (trainable, frozen) and buffers of ``model``, each tensor counted once."""
    params = list(model.parameters())
    total, total_bytes = unique_numel(params)
    trainable, _ = unique_numel(p for p in params if p.requires_grad)
    buffers, buffer_bytes = unique_numel(model.buffers())
    return {
        "total": total,
        "trainable": trainable,
        "frozen": total - trainable,
        "bytes": total_bytes,
        "buffers": buffers,
        "buffer_bytes": buffer_bytes,
    }


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """``torch.float32`` or a name such as ``"float16"``/``"bf16"``; floating types only."""
    if isinstance(dtype, str):
        aliases = {
            "fp32": "float32",
            "fp16": "float16",
            "half": "float16",
            "bf16": "bfloat16",
            "fp64": "float64",
        }
        resolved = getattr(torch, aliases.get(dtype, dtype), None)
        if not isinstance(resolved, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; expected float32, float16, bfloat16 or float64")
        dtype = resolved
    if not dtype.is_floating_point:
        raise ValueError(
            f"dtype must be a floating type, got {dtype}; use float32, float16, bfloat16 or float64"
        )
    return dtype


def check_input_size(input_size: Any) -> tuple[int, ...]:
    """A per-sample input size ``(C, H, W)`` (or ``(C, L)``, ``(C, D, H, W)``) of positive ints."""
    try:
        size = tuple(int(s) for s in input_size)
    except (TypeError, ValueError):
        raise ValueError(
            f"input size must be integers (C, H, W), got {input_size!r}; e.g. --input-size 3 224 224"
        ) from None
    if not size or any(s <= 0 for s in size) or any(float(a) != b for a, b in zip(input_size, size)):
        raise ValueError(
            f"input size must be positive integers (C, H, W), got {input_size!r}; e.g. --input-size 3 224 224"
        )
    return size


def _working_model(model: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """The model itself when it already lives on ``device`` in ``dtype``, else a converted copy.

    A meta copy shares the module structure and none of the data: each parameter and buffer
    becomes a meta tensor of its shape (tied ones stay tied), so copying costs no memory.
    """
    tensors = list(model.parameters()) + list(model.buffers())
    same = all(t.device == device and (not t.is_floating_point() or t.dtype == dtype) for t in tensors)
    if same:
        return model
    if device.type != "meta":
        return copy.deepcopy(model).to(device=device, dtype=dtype)
    return shell_copy(
        model, lambda t: torch.empty_like(t, device="meta", dtype=dtype if t.is_floating_point() else t.dtype)
    )


def shell_copy(model: nn.Module, convert: Any) -> nn.Module:
    """A copy of ``model``'s structure whose parameters and buffers are ``convert(tensor)``.

    Only the modules are copied, never the weights: a meta or fake copy costs no memory.
    Tied tensors stay tied, and parameters stay parameters with their ``requires_grad``.
    """
    memo: dict[int, Any] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in memo:
            new = convert(t)
            memo[id(t)] = nn.Parameter(new, t.requires_grad) if isinstance(t, nn.Parameter) else new
    return copy.deepcopy(model, memo)


def _is_meta_limit(exc: BaseException) -> bool:
    """An error that only the meta device raises: an operator without a meta kernel, or a value read."""
    return "meta" in str(exc).lower()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def run_trace(model: nn.Module, x: torch.Tensor):
    """Trace ``model(x)`` in train mode with autograd; restore the model's state afterwards."""
    with preserved_state(model, x.device):
        model.train()
        try:
            return trace_forward(model, (x,))
        except (RuntimeError, ValueError) as exc:
            shape = list(x.shape)
            hint = (
                "use --batch 2 or more"
                if "more than 1 value per channel" in str(exc)
                else "check --input-size (C H W)"
            )
            raise ValueError(
                f"{type(model).__name__} fails on an input of shape {shape}: {_one_line(exc)}; {hint}"
            ) from exc


def _random_input(
    batch: int, size: tuple[int, ...], device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """A standard-normal batch drawn without touching the caller's RNG state."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        return torch.randn(batch, *size, device=device, dtype=dtype)


def _row(rec: ModuleRecord, module: nn.Module) -> LayerRow:
    numel, _ = unique_numel(module.parameters())
    rf = rec.rf
    return LayerRow(
        name=rec.name,
        type=rec.type_name,
        depth=rec.depth,
        output_shape=rec.output_shapes[0] if rec.output_shapes else None,
        params=numel,
        macs=rec.macs,
        norm_elements=rec.norm_elements,
        elementwise_ops=rec.elementwise_ops,
        activation_bytes=rec.activation_bytes,
        receptive_field=rf.describe() if rf is not None else "",
        stride=rf.stride() if rf is not None and rf.kind == FINITE else "",
        calls=rec.calls,
    )


def _measure(
    model: nn.Module, batch_size: int, size: tuple[int, ...], dev: torch.device, dtype: torch.dtype
) -> tuple[nn.Module, Any, torch.Tensor, list[str]]:
    """``(working model, trace, input, notes)``; a model whose BatchNorm cannot run on one
    sample in train mode is measured at batch 2."""
    work = _working_model(model, dev, dtype)
    try:
        x = _random_input(batch_size, size, dev, dtype)
        return work, run_trace(work, x), x, []
    except ValueError as exc:
        if batch_size != 1 or "more than 1 value per channel" not in str(exc):
            raise
        x = _random_input(2, size, dev, dtype)
        note = "batch 1 fails in train mode (BatchNorm over a single value); measured at batch 2"
        return work, run_trace(work, x), x, [note]


def summarize(
    model: nn.Module,
    input_size: tuple[int, ...] = (3, 224, 224),
    batch_size: int = 1,
    depth: int = 3,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str = torch.float32,
) -> ModelSummary:
    """Measure ``model`` on a batch of ``batch_size × input_size`` in ``dtype``.

    One forward pass in train mode with autograd enabled counts MACs per aten operator,
    records the tensors autograd saves, and propagates receptive fields. With ``device``
    left ``None`` the pass runs on meta tensors: every operator, shape, dtype and saved
    tensor is the real one, but nothing is allocated or computed, so any model answers at
    any batch in seconds. A model that cannot run on meta (an operator without a meta
    kernel, a value read in ``forward``) is measured by a real pass on the CPU, and
    ``notes`` say so. A named device (``"cpu"``, ``"cuda"``) runs a real pass there.

    The model's train/eval flags, buffers and the RNG state are restored; a model on
    another device or dtype is measured on a converted copy. A model whose BatchNorm cannot
    run on one sample in train mode is measured at batch 2 (``batch_size`` and ``notes``
    say so).
    """
    size = check_input_size(input_size)
    if int(batch_size) < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}; pass --batch 1 or more")
    if int(depth) < 0:
        raise ValueError(f"depth must be 0 or more, got {depth}; pass --depth 3")
    dtype = resolve_dtype(dtype)
    dev = torch.device("meta" if device is None else device)
    notes: list[str] = []
    try:
        work, trace, x, notes = _measure(model, int(batch_size), size, dev, dtype)
    except (RuntimeError, ValueError, NotImplementedError) as exc:
        if device is not None or not _is_meta_limit(exc.__cause__ or exc):
            raise
        dev = torch.device("cpu")
        work, trace, x, notes = _measure(model, int(batch_size), size, dev, dtype)
        notes.insert(0, f"measured by a real forward on the CPU: the meta pass failed ({_one_line(exc)})")
    batch_size = x.shape[0]
    counts = parameter_counts(work)
    modules = dict(work.named_modules())
    executed = sorted((r for r in trace.records.values() if r.calls), key=lambda r: r.order)
    idle = [r for r in trace.records.values() if not r.calls]
    rows = [_row(r, modules[r.name]) for r in executed + idle if 1 <= r.depth <= depth]
    root = trace.records[""]
    rf = trace.output_rf
    largest = trace.max_rf
    notes += trace.notes
    if counts["trainable"] == 0:
        notes.append("no trainable parameters: autograd keeps no activations for backward")
    if idle:
        notes.append(f"{len(idle)} module(s) never called in forward: {', '.join(r.name for r in idle[:5])}")
    return ModelSummary(
        model_name=type(model).__name__,
        input_size=size,
        batch_size=int(batch_size),
        dtype=str(dtype).replace("torch.", ""),
        device=str(dev),
        total_params=counts["total"],
        trainable_params=counts["trainable"],
        frozen_params=counts["frozen"],
        buffer_elements=counts["buffers"],
        buffer_bytes=counts["buffer_bytes"],
        params_bytes=counts["bytes"],
        macs=root.macs,
        flops=2 * root.macs,
        norm_elements=root.norm_elements,
        elementwise_ops=root.elementwise_ops,
        activation_bytes=trace.activation_bytes,
        input_bytes=x.numel() * x.element_size(),
        output_shape=trace.output_shapes[0] if trace.output_shapes else None,
        rows=rows,
        uncounted_ops=trace.uncounted,
        receptive_field=ReceptiveField(
            output=rf.describe(),
            output_stride=rf.stride(),
            largest=largest.describe() if largest is not None else None,
            largest_stride=largest.stride() if largest is not None else None,
            largest_layer=trace.max_rf_layer,
        ),
        depth=int(depth),
        torch_version=torch.__version__,
        notes=notes,
    )
