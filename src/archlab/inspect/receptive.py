"""Receptive field of every tensor of a forward pass, propagated operator by operator.

Each tensor that depends on the input carries, for each of its spatial axes, the size of
its receptive field ``r`` (input pixels), the jump ``j`` (input pixels between adjacent
outputs, i.e. the effective stride) and the centre ``c`` of output position 0, in input
pixel coordinates (pixel ``i`` spans ``[i, i + 1)``). The input starts at
``r = 1, j = 1, c = 0.5``. A convolution or pooling with kernel ``k``, stride ``s``,
padding ``p`` and dilation ``d`` maps (Araujo et al., *Computing Receptive Fields of
Convolutional Neural Networks*, Distill 2019)::

    k' = d (k - 1) + 1;   r ← r + (k' - 1) j;   c ← c + ((k' - 1) / 2 - p) j;   j ← j s

Rules beyond that, stated so the result is never a guess:

* pointwise and normalisation ops keep the field (normalisation statistics are ignored,
  as usual); when two branches meet, the field is the union of their windows, which
  requires equal jumps;
* global pooling, reductions or softmax over all spatial axes, and attention make the
  output **global** (it depends on every input pixel); anything derived from a global
  tensor is global;
* reshapes, permutes, slices, concatenation and padding keep the field when the spatial
  axes survive them intact; otherwise (e.g. flattening H×W into tokens) it is **n/a**;
* interpolation, transposed convolution, reflection padding, matmuls on spatial data and
  every operator not listed make the field **n/a** (undefined), and so does anything
  derived from an n/a tensor, except a global pool or attention, which is global;
* tensors that do not depend on the input (parameters, constants) are ``const``;
* a size-1 spatial axis that a reshape removes (``flatten`` after a 1×1 map) keeps its
  field: every element still sees the same window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from archlab.inspect.ops import ATTENTION_OPS, bind_args

FINITE = "finite"
GLOBAL = "global"
UNDEFINED = "n/a"
CONST = "const"
COLLAPSED = -1  # axis index of a size-1 spatial axis that a reshape removed


@dataclass(frozen=True)
class RF:
    """Receptive field of one tensor: kind, spatial axes, and per-axis size, jump and centre."""

    kind: str
    axes: tuple[int, ...] = ()
    size: tuple[float, ...] = ()
    jump: tuple[float, ...] = ()
    start: tuple[float, ...] = ()

    def describe(self) -> str:
        """``"7×7"``, ``"global"``, ``"n/a"`` or ``"—"`` (constant)."""
        if self.kind == FINITE:
            return "×".join(_num(s) for s in self.size)
        return "—" if self.kind == CONST else self.kind

    def stride(self) -> str:
        return "×".join(_num(j) for j in self.jump) if self.kind == FINITE else ""

    def to_dict(self) -> dict[str, Any]:
        if self.kind != FINITE:
            return {"kind": self.kind}
        return {"kind": FINITE, "size": list(self.size), "jump": list(self.jump), "center0": list(self.start)}


_CONST = RF(CONST)
_GLOBAL = RF(GLOBAL)
_UNDEFINED = RF(UNDEFINED)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def input_rf(ndim: int) -> RF:
    """Field of the network input ``[N, C, *spatial]``: one pixel per spatial axis."""
    n = ndim - 2
    if n <= 0:
        return _UNDEFINED
    return RF(FINITE, tuple(range(2, ndim)), (1.0,) * n, (1.0,) * n, (0.5,) * n)


def _expand(v: Any, n: int, default: int) -> list[int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return [default] * n
    if isinstance(v, (list, tuple)):
        return [int(x) for x in v] * (n if len(v) == 1 else 1)
    return [int(v)] * n


def compose(
    rf: RF, kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int]
) -> RF:
    """Field after a sliding window with the given kernel, stride, padding and dilation."""
    size, jump, start = [], [], []
    for i in range(len(rf.axes)):
        k_eff = dilation[i] * (kernel[i] - 1) + 1
        size.append(rf.size[i] + (k_eff - 1) * rf.jump[i])
        start.append(rf.start[i] + ((k_eff - 1) / 2 - padding[i]) * rf.jump[i])
        jump.append(rf.jump[i] * stride[i])
    return RF(FINITE, rf.axes, tuple(size), tuple(jump), tuple(start))


def _union(fields: list[RF]) -> RF:
    first = fields[0]
    for f in fields[1:]:
        if f.axes != first.axes or any(not math.isclose(a, b) for a, b in zip(f.jump, first.jump)):
            return _UNDEFINED
    size, start = [], []
    for i in range(len(first.axes)):
        lo = min(f.start[i] - f.size[i] / 2 for f in fields)
        hi = max(f.start[i] + f.size[i] / 2 for f in fields)
        size.append(hi - lo)
        start.append((lo + hi) / 2)
    return RF(FINITE, first.axes, tuple(size), first.jump, tuple(start))


def _shift(rf: RF, offset: int) -> RF:
    if rf.kind != FINITE or offset == 0:
        return rf
    return RF(FINITE, tuple(a + offset if a >= 0 else a for a in rf.axes), rf.size, rf.jump, rf.start)


def _with_axes(rf: RF, axes: list[int]) -> RF:
    return RF(FINITE, tuple(axes), rf.size, rf.jump, rf.start)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _norm_dim(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def _reshaped(rf: RF, in_shape: Sequence[int], out_shape: Sequence[int]) -> RF:
    """A spatial axis survives a reshape iff the output has an axis of the same size and inner product."""
    axes = []
    for a in rf.axes:
        if a == COLLAPSED:
            axes.append(a)
            continue
        inner = math.prod(in_shape[a + 1 :])
        match = [
            b
            for b in range(len(out_shape))
            if out_shape[b] == in_shape[a] and math.prod(out_shape[b + 1 :]) == inner
        ]
        if match:
            axes.append(match[0])
        elif in_shape[a] == 1:
            axes.append(COLLAPSED)
        else:
            return _UNDEFINED
    return _with_axes(rf, axes)


_POINTWISE_LIKE = frozenset(
    """
    clone contiguous _to_copy copy_ copy detach alias lift_fresh native_dropout bernoulli bernoulli_
    hardswish hardswish_ hardsigmoid hardsigmoid_ silu silu_ mish mish_ native_batch_norm
    _native_batch_norm_legit _native_batch_norm_legit_functional
    _native_batch_norm_legit_no_training cudnn_batch_norm native_layer_norm native_group_norm
    _fused_rms_norm
    """.split()
)
# Outputs whose values do not depend on the input's values (shape-only factories, fills).
_VALUE_FREE = frozenset(
    """
    empty_like zeros_like ones_like full_like rand_like randn_like randint_like new_empty
    new_empty_strided new_zeros new_ones new_full bernoulli_ uniform_ normal_ exponential_ random_
    fill_ zero_ sym_size sym_numel sym_stride
    """.split()
)
_POOLS = frozenset({"max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d"})
_POOLS_IDX = frozenset({"max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices"})
_ADAPTIVE = frozenset(
    """
    adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d _adaptive_avg_pool2d
    _adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d
    """.split()
)
_REDUCTIONS = frozenset(
    """
    mean sum prod amax amin max min var std var_mean std_mean logsumexp norm linalg_vector_norm
    argmax argmin
    """.split()
)
_RESHAPES = frozenset(
    """
    view _unsafe_view reshape _reshape_alias view_copy unsqueeze squeeze flatten unflatten
    unsqueeze_copy squeeze_copy
    """.split()
)


def propagate(func: Any, args: tuple, kwargs: Mapping[str, Any], out: Any, lookup: Any) -> RF:
    """Field of the outputs of one aten call, given ``lookup(tensor) -> RF`` for its inputs."""
    name = func.overloadpacket.__name__
    if name in _VALUE_FREE:
        return _CONST
    inputs = _tensors(list(args)) + _tensors(list(kwargs.values()))
    fields = [lookup(t) for t in inputs]
    live = [(t, f) for t, f in zip(inputs, fields) if f.kind != CONST]
    if not live:
        return _CONST
    if any(f.kind == GLOBAL for _, f in live) or name in ATTENTION_OPS:
        return _GLOBAL
    if name in _ADAPTIVE and all(s == 1 for s in _out_tensor(out).shape[2:]):
        return _GLOBAL
    is_binary = any(a.name == "other" for a in func._schema.arguments)
    if not is_binary and (
        name in _REDUCTIONS or name in ("_softmax", "_safe_softmax", "_log_softmax", "softmax", "log_softmax")
    ):
        return _reduction(func, args, kwargs, live[0])
    if any(f.kind == UNDEFINED for _, f in live):
        return _UNDEFINED
    x, rf = live[0]
    if name in ("convolution", "_convolution", "convolution_overrideable"):
        b = bind_args(func, args, kwargs)
        if b.get("transposed") or rf.axes != tuple(range(2, x.dim())):
            return _UNDEFINED
        n = x.dim() - 2
        k = list(args[1].shape[2:])
        return compose(
            rf, k, _expand(b["stride"], n, 1), _expand(b["padding"], n, 0), _expand(b["dilation"], n, 1)
        )
    if name in _POOLS or name in _POOLS_IDX:
        b = bind_args(func, args, kwargs)
        n = x.dim() - 2
        if rf.axes != tuple(range(2, x.dim())):
            return _UNDEFINED
        k = _expand(b["kernel_size"], n, 1)
        s = _expand(b.get("stride"), n, 0)
        s = [ks if ss == 0 else ss for ks, ss in zip(k, s)]
        return compose(rf, k, s, _expand(b.get("padding"), n, 0), _expand(b.get("dilation"), n, 1))
    if name in _ADAPTIVE:
        ins, outs = x.shape[2:], _out_tensor(out).shape[2:]
        if rf.axes != tuple(range(2, x.dim())) or any(i % o for i, o in zip(ins, outs)):
            return _UNDEFINED
        k = [i // o for i, o in zip(ins, outs)]
        return compose(rf, k, k, [0] * len(k), [1] * len(k))
    if name in _POINTWISE_LIKE or torch.Tag.pointwise in func.tags:
        return _broadcast_union(live, _out_tensor(out))
    if (
        func.is_view
        or name in _RESHAPES
        or name in ("cat", "stack", "split", "split_with_sizes", "chunk", "unbind")
    ):
        return _structural(name, func, args, kwargs, live, out)
    if name == "constant_pad_nd":
        pads = list(args[1])
        start = list(rf.start)
        for i in range(len(pads) // 2):
            axis = x.dim() - 1 - i
            if axis in rf.axes:
                j = rf.axes.index(axis)
                start[j] -= pads[2 * i] * rf.jump[j]
        return RF(FINITE, rf.axes, rf.size, rf.jump, tuple(start))
    return _UNDEFINED


def _out_tensor(out: Any) -> torch.Tensor:
    found = _tensors(out)
    return found[0]


def _broadcast_union(live: list[tuple[torch.Tensor, RF]], y: torch.Tensor) -> RF:
    return _union([_shift(f, y.dim() - t.dim()) for t, f in live])


def _reduction(func: Any, args: tuple, kwargs: Mapping[str, Any], live: tuple[torch.Tensor, RF]) -> RF:
    x, rf = live
    if rf.kind != FINITE:
        return rf
    b = bind_args(func, args, kwargs)
    dims = b.get("dim")
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        return _GLOBAL
    dims = [dims] if isinstance(dims, int) else list(dims)
    dims = sorted({_norm_dim(int(d), x.dim()) for d in dims})
    hit = [d for d in dims if d in rf.axes]
    if len(hit) == len(rf.axes):
        return _GLOBAL
    if hit:
        return _UNDEFINED
    if "keepdim" in b and not b["keepdim"]:
        return _with_axes(rf, [a - sum(d < a for d in dims) for a in rf.axes])
    return rf


def _structural(name: str, func: Any, args: tuple, kwargs: Mapping[str, Any], live: list, out: Any) -> RF:
    x, rf = live[0]
    b = bind_args(func, args, kwargs)
    if name in ("cat", "stack"):
        ref = _tensors(args[0])[0]
        dim = _norm_dim(int(b.get("dim", 0)), ref.dim() + (1 if name == "stack" else 0))
        merged = _union([f for _, f in live])
        if merged.kind != FINITE or (name == "cat" and dim in merged.axes):
            return _UNDEFINED
        return _with_axes(merged, [a + (a >= dim) for a in merged.axes]) if name == "stack" else merged
    if len(live) > 1:
        return _UNDEFINED
    y = _out_tensor(out)
    if name in ("permute",):
        order = [_norm_dim(int(d), x.dim()) for d in b["dims"]]
        return _with_axes(rf, [order.index(a) if a >= 0 else a for a in rf.axes])
    if name in ("transpose", "swapaxes", "t"):
        d0, d1 = (
            (0, 1)
            if name == "t"
            else (_norm_dim(int(b["dim0"]), x.dim()), _norm_dim(int(b["dim1"]), x.dim()))
        )
        return _with_axes(rf, [d1 if a == d0 else d0 if a == d1 else a for a in rf.axes])
    if name == "expand":
        offset = y.dim() - x.dim()
        if any(a >= 0 and y.shape[a + offset] != x.shape[a] for a in rf.axes):
            return _UNDEFINED
        return _shift(rf, offset)
    if name in ("select", "unbind"):
        dim = _norm_dim(int(b.get("dim", 0)), x.dim())
        if dim in rf.axes:
            return _UNDEFINED
        return _with_axes(rf, [a - (a > dim) for a in rf.axes])
    if name in ("slice", "narrow", "split", "split_with_sizes", "chunk"):
        dim = _norm_dim(int(b.get("dim", 0)), x.dim())
        if dim not in rf.axes:
            return rf
        if name != "slice":
            return _UNDEFINED
        j = rf.axes.index(dim)
        begin = b.get("start") or 0
        begin = begin + x.shape[dim] if begin < 0 else begin
        step = int(b.get("step") or 1)
        start = list(rf.start)
        jump = list(rf.jump)
        start[j] += begin * rf.jump[j]
        jump[j] *= step
        return RF(FINITE, rf.axes, rf.size, tuple(jump), tuple(start))
    if name in _RESHAPES or name == "view":
        return _reshaped(rf, list(x.shape), list(y.shape))
    if x.shape == y.shape and name in ("detach", "alias", "_reshape_alias"):
        return rf
    return _UNDEFINED
