"""Text, Markdown and JSON renderings of a :class:`~archlab.inspect.summary.ModelSummary`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archlab.inspect.units import MB, fmt_count, fmt_int, fmt_mb, fmt_mib, units_legend

if TYPE_CHECKING:
    from archlab.inspect.summary import ModelSummary

COLUMNS = (
    "Layer",
    "Type",
    "Output shape",
    "Params",
    "MACs",
    "Norm el.",
    "Elem ops",
    "Saved (MB)",
    "RF",
    "Stride",
)


def _shape(shape: Any) -> str:
    return "--" if shape is None else "[" + ", ".join(str(s) for s in shape) + "]"


def _cells(s: ModelSummary, indent: bool) -> list[list[str]]:
    rows = []
    for r in s.rows:
        name = ("  " * (r.depth - 1) if indent else "") + r.name + (f" ×{r.calls}" if r.calls > 1 else "")
        rows.append(
            [
                name,
                r.type,
                _shape(r.output_shape) if r.calls else "(not run)",
                fmt_int(r.params),
                fmt_count(r.macs) if r.macs else "--",
                fmt_count(r.norm_elements) if r.norm_elements else "--",
                fmt_count(r.elementwise_ops) if r.elementwise_ops else "--",
                f"{r.activation_bytes / MB:.3f}" if r.activation_bytes else "--",
                r.receptive_field or "--",
                r.stride or "--",
            ]
        )
    return rows


def header(s: ModelSummary) -> str:
    shape = _shape((s.batch_size, *s.input_size))
    where = "meta tensors (shapes only; nothing allocated)" if s.device == "meta" else s.device
    return (
        f"{s.model_name}: input {shape} {s.dtype} on {where}; measured in train mode; torch {s.torch_version}"
    )


def totals(s: ModelSummary) -> list[tuple[str, str]]:
    """``(label, value)`` pairs of the totals, units spelled out."""
    uncounted = ", ".join(f"{k} ×{v}" for k, v in s.uncounted_ops.items()) or "none"
    items = [
        ("Parameters", f"{fmt_int(s.total_params)}; each tensor counted once"),
        ("Trainable params", fmt_int(s.trainable_params)),
        ("Non-trainable params", f"{fmt_int(s.frozen_params)} (frozen: requires_grad=False)"),
        ("Buffers", f"{fmt_int(s.buffer_elements)} elements ({fmt_mb(s.buffer_bytes)}), not parameters"),
        (
            "Params size",
            f"{fmt_mb(s.params_bytes)} = {fmt_mib(s.params_bytes)} ({fmt_int(s.params_bytes)} B)",
        ),
        (
            "MACs",
            f"{fmt_count(s.macs)} ({fmt_int(s.macs)} multiply-accumulates: conv, linear, matmul, attention)",
        ),
        ("FLOPs", f"{fmt_count(s.flops)} (2 × MACs; contractions only)"),
        ("Norm elements", f"{fmt_count(s.norm_elements)} (normalised elements, apart from MACs)"),
        (
            "Elementwise ops",
            f"{fmt_count(s.elementwise_ops)} (pointwise outputs + reduction/pooling inputs, apart from MACs)",
        ),
        (
            "Activations",
            f"{fmt_mb(s.activation_bytes)} = {fmt_mib(s.activation_bytes)} kept by autograd for backward "
            f"(batch {s.batch_size}, {s.dtype}; excludes parameters, buffers and the input)",
        ),
        ("Input size", f"{fmt_mb(s.input_bytes)} ({fmt_int(s.input_bytes)} B)"),
        ("Output shape", _shape(s.output_shape)),
        ("Receptive field", str(s.receptive_field)),
        ("Not counted", uncounted),
    ]
    return items


def table(s: ModelSummary) -> str:
    """Plain-text table: one row per module up to the summary depth, then the totals."""
    cells = [list(COLUMNS)] + _cells(s, indent=True)
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    right = {3, 4, 5, 6, 7}

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
        ).rstrip()

    rule = "=" * len(line(cells[0]))
    out = [header(s), rule, line(cells[0]), rule]
    out += [line(row) for row in cells[1:]]
    out.append(rule)
    label_width = max(len(k) for k, _ in totals(s))
    out += [f"{k.ljust(label_width)}  {v}" for k, v in totals(s)]
    out += [f"Note: {n}" for n in s.notes]
    out.append("Units: MB = 10^6 bytes, MiB = 2^20 bytes; k/M/G = 10^3/10^6/10^9.")
    return "\n".join(out)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(s: ModelSummary) -> str:
    """GitHub Markdown: a per-module table and a list of totals."""
    cells = _cells(s, indent=False)
    out = [f"**{_md_escape(header(s))}**", ""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "|".join("---:" if i in (3, 4, 5, 6, 7) else "---" for i in range(len(COLUMNS))) + "|")
    out += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in cells]
    out.append("")
    out += [f"- **{k}**: {_md_escape(v)}" for k, v in totals(s)]
    out += [f"- *Note*: {_md_escape(n)}" for n in s.notes]
    out.append("- *Units*: MB = 10^6 bytes, MiB = 2^20 bytes; k/M/G = 10^3/10^6/10^9.")
    return "\n".join(out)


def as_dict(s: ModelSummary) -> dict[str, Any]:
    """JSON-ready dict with exact integers, the units and the torch version."""
    return {
        "tool": "archlab.inspect",
        "torch_version": s.torch_version,
        "units": units_legend(),
        "model": s.model_name,
        "input": {
            "size": list(s.input_size),
            "batch_size": s.batch_size,
            "dtype": s.dtype,
            "device": s.device,
            "bytes": s.input_bytes,
        },
        "totals": {
            "params": s.total_params,
            "trainable_params": s.trainable_params,
            "frozen_params": s.frozen_params,
            "buffer_elements": s.buffer_elements,
            "buffer_bytes": s.buffer_bytes,
            "params_bytes": s.params_bytes,
            "macs": s.macs,
            "flops": s.flops,
            "norm_elements": s.norm_elements,
            "elementwise_ops": s.elementwise_ops,
            "activation_bytes": s.activation_bytes,
        },
        "output_shape": list(s.output_shape) if s.output_shape is not None else None,
        "receptive_field": s.receptive_field.to_dict(),
        "uncounted_ops": dict(s.uncounted_ops),
        "depth": s.depth,
        "rows": [r.to_dict() for r in s.rows],
        "notes": list(s.notes),
    }
