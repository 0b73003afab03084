"""Classify aten operators and count the multiply-accumulates (MACs) each one performs.

A MAC is one multiplication added into an accumulator: a ``k``-term dot product is ``k``
MACs, so FLOPs of a contraction are ``2 × MACs``. Only contractions carry MACs (convolution,
mm/addmm/bmm/baddbmm/mv/dot, and every scaled-dot-product-attention backend, where
``QKᵀ`` and ``A·V`` are both counted). Everything else falls in one of four classes:

* ``norm``: normalisation operators; the figure is the number of elements normalised;
* ``elementwise``: pointwise ops, softmax, dropout, reductions, pooling and resampling;
  the figure is the number of elements produced (pointwise) or read (reductions, pooling);
* ``movement``: views, copies, concatenation, padding, factories: no arithmetic;
* ``uncounted``: anything not recognised, reported by name so that nothing is silently zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch

MAC = "mac"
NORM = "norm"
ELEMENTWISE = "elementwise"
MOVEMENT = "movement"
UNCOUNTED = "uncounted"


@dataclass(frozen=True)
class OpCost:
    """What one aten call costs: its class, its MACs and its element-op count."""

    kind: str
    macs: int = 0
    elements: int = 0


def bind_args(func: Any, args: tuple, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Map an aten call's positional and keyword arguments to schema names, with defaults."""
    bound: dict[str, Any] = {}
    for i, arg in enumerate(func._schema.arguments):
        if i < len(args) and not arg.kwarg_only:
            bound[arg.name] = args[i]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
    return bound


def _prod(values: Any) -> int:
    return math.prod(int(v) for v in values)


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (list, tuple)):
        for item in out:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


# --- contractions ----------------------------------------------------------------------------


def _conv(args: tuple, kwargs: Mapping[str, Any], out: Any) -> int:
    """Direct convolution: every output element is a dot product of ``C_in/groups × prod(k)`` terms.

    Transposed convolution scatters each *input* element over ``C_out/groups × prod(k)`` outputs.
    Weight layout is ``[C_out, C_in/g, k...]`` (direct) or ``[C_in, C_out/g, k...]`` (transposed).
    """
    x, w = args[0], args[1]
    transposed = bool(args[6]) if len(args) > 6 else bool(kwargs.get("transposed", False))
    per_element = _prod(w.shape[1:])
    if transposed:
        return x.numel() * per_element
    y = _first_tensor(out)
    return y.numel() * per_element


def _mm(a: torch.Tensor, b: torch.Tensor) -> int:
    return a.shape[0] * a.shape[1] * b.shape[-1]


def _bmm(a: torch.Tensor, b: torch.Tensor) -> int:
    return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[-1]


def _attention_bhle(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> int:
    """``QKᵀ`` plus ``A·V`` for layout ``[..., L, E]``: ``batch × L × S × (E + E_v)``."""
    batch = _prod(q.shape[:-2])
    length, e = q.shape[-2], q.shape[-1]
    return batch * length * k.shape[-2] * (e + v.shape[-1])


def _attention_blhe(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> int:
    """The same for the kernels' own layout ``[B, L, H, E]``."""
    b, length, h, e = q.shape
    return b * h * length * k.shape[1] * (e + v.shape[-1])


def _linear(args: tuple, kwargs: Mapping[str, Any], out: Any) -> int:
    return (args[0].numel() // max(args[0].shape[-1], 1)) * _prod(args[1].shape)


def _native_mha(args: tuple, kwargs: Mapping[str, Any], out: Any) -> int:
    """PyTorch's fused ``MultiheadAttention`` (eval fast path): projections plus attention.

    Batch-first ``q [B, L, D]``, ``k, v [B, S, D]``: ``B (L D² + 2 S D² + 2 L S D + L D²)``.
    """
    q, k = args[0], args[1]
    b, length, d = q.shape
    s = k.shape[1]
    return b * (length * d * d + 2 * s * d * d + 2 * length * s * d + length * d * d)


def _encoder_layer(args: tuple, kwargs: Mapping[str, Any], out: Any) -> int:
    """PyTorch's fused ``TransformerEncoderLayer`` (eval fast path): attention plus the 2-layer MLP."""
    src, ffn_weight_1 = args[0], args[14]
    b, length, d = src.shape
    hidden = ffn_weight_1.shape[0]
    return b * length * (4 * d * d + 2 * length * d + 2 * d * hidden)


def _contraction_table() -> Mapping[str, Callable[[tuple, Mapping[str, Any], Any], int]]:
    def bhle(a: tuple, kw: Mapping[str, Any], out: Any) -> int:
        return _attention_bhle(a[0], a[1], a[2])

    def blhe(a: tuple, kw: Mapping[str, Any], out: Any) -> int:
        return _attention_blhe(a[0], a[1], a[2])

    table: dict[str, Callable[[tuple, Mapping[str, Any], Any], int]] = {
        "convolution": _conv,
        "_convolution": _conv,
        "convolution_overrideable": _conv,
        "mm": lambda a, kw, out: _mm(a[0], a[1]),
        "_int_mm": lambda a, kw, out: _mm(a[0], a[1]),
        "_scaled_mm": lambda a, kw, out: _mm(a[0], a[1]),
        "addmm": lambda a, kw, out: _mm(a[1], a[2]),
        "_addmm_activation": lambda a, kw, out: _mm(a[1], a[2]),
        "bmm": lambda a, kw, out: _bmm(a[0], a[1]),
        "baddbmm": lambda a, kw, out: _bmm(a[1], a[2]),
        "addbmm": lambda a, kw, out: _bmm(a[1], a[2]),
        "mv": lambda a, kw, out: a[0].shape[0] * a[0].shape[1],
        "addmv": lambda a, kw, out: a[1].shape[0] * a[1].shape[1],
        "dot": lambda a, kw, out: a[0].numel(),
        "vdot": lambda a, kw, out: a[0].numel(),
        "linear": _linear,
        "_scaled_dot_product_attention_math": bhle,
        "_scaled_dot_product_attention_math_for_mps": bhle,
        "_scaled_dot_product_flash_attention": bhle,
        "_scaled_dot_product_flash_attention_for_cpu": bhle,
        "_scaled_dot_product_efficient_attention": bhle,
        "_scaled_dot_product_cudnn_attention": bhle,
        "_scaled_dot_product_fused_attention_overrideable": bhle,
        "_flash_attention_forward": blhe,
        "_efficient_attention_forward": blhe,
        "_native_multi_head_attention": _native_mha,
        "_transformer_encoder_layer_fwd": _encoder_layer,
    }
    return MappingProxyType(table)


CONTRACTIONS = _contraction_table()

ATTENTION_OPS = frozenset(name for name in CONTRACTIONS if "attention" in name or "transformer" in name)

NORM_OPS = frozenset(
    """
    native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_functional
    _native_batch_norm_legit_no_training cudnn_batch_norm miopen_batch_norm native_layer_norm
    native_group_norm _fused_rms_norm batch_norm_elemt
    """.split()
)

# Ops that read every input element once (reductions, pooling): counted by input size.
READ_OPS = frozenset(
    """
    mean sum prod amax amin max min argmax argmin var std var_mean std_mean logsumexp norm
    linalg_vector_norm cumsum max_pool1d max_pool2d max_pool3d max_pool1d_with_indices
    max_pool2d_with_indices max_pool3d_with_indices avg_pool1d avg_pool2d avg_pool3d
    adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d _adaptive_avg_pool2d
    _adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d
    """.split()
)

# Non-pointwise ops that still do a few operations per output element.
WRITE_OPS = frozenset(
    """
    _softmax _log_softmax _safe_softmax softmax log_softmax native_dropout bernoulli bernoulli_
    hardswish hardswish_ hardsigmoid hardsigmoid_ silu silu_ mish mish_ upsample_nearest1d
    upsample_nearest2d upsample_nearest3d _upsample_nearest_exact1d _upsample_nearest_exact2d
    _upsample_nearest_exact3d upsample_linear1d upsample_bilinear2d upsample_trilinear3d
    upsample_bicubic2d _upsample_bilinear2d_aa _upsample_bicubic2d_aa grid_sampler_2d
    grid_sampler_3d rand_like randn_like uniform_ normal_ topk sort cumprod
    """.split()
)

MOVEMENT_OPS = frozenset(
    """
    as_strided_ clone contiguous _unsafe_view _reshape_alias view_copy as_strided_copy expand_copy permute_copy
    t_copy transpose_copy unsqueeze_copy squeeze_copy slice_copy select_copy split_copy unbind_copy
    alias_copy detach_copy _unsafe_index _unsafe_index_put slice_scatter select_scatter
    diagonal_scatter as_strided_scatter _to_copy copy_ copy cat stack split split_with_sizes chunk
    unbind narrow constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d
    replication_pad1d replication_pad2d replication_pad3d index_select index gather index_put
    index_put_ scatter masked_select embedding roll flip repeat pixel_shuffle pixel_unshuffle
    channel_shuffle im2col col2im empty empty_like empty_strided new_empty new_empty_strided zeros
    zeros_like new_zeros ones ones_like new_ones full full_like new_full arange linspace
    scalar_tensor fill_ zero_ lift_fresh lift_fresh_copy _local_scalar_dense item set_ resize_
    _reshape_copy tril triu one_hot
    """.split()
)


def op_cost(func: Any, args: tuple, kwargs: Mapping[str, Any], out: Any) -> OpCost:
    """Class and cost of one aten call (``func`` is an ``OpOverload``)."""
    name = func.overloadpacket.__name__
    handler = CONTRACTIONS.get(name)
    if handler is not None:
        return OpCost(MAC, macs=int(handler(args, kwargs, out)))
    if name in NORM_OPS:
        return OpCost(NORM, elements=int(args[0].numel()))
    if name in MOVEMENT_OPS or func.is_view:
        return OpCost(MOVEMENT)
    if name in READ_OPS:
        return OpCost(ELEMENTWISE, elements=int(args[0].numel()))
    if name in WRITE_OPS or torch.Tag.pointwise in func.tags:
        y = _first_tensor(out)
        return OpCost(ELEMENTWISE, elements=int(y.numel()) if y is not None else 0)
    return OpCost(UNCOUNTED)


def op_name(func: Any) -> str:
    """The name an operator is reported under, e.g. ``aten.convolution``."""
    packet = func.overloadpacket
    namespace = getattr(packet, "_qualified_op_name", "").split("::")[0] or "aten"
    return f"{namespace}.{packet.__name__}"
