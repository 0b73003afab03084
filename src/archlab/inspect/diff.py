"""``diff``: the changelog of two models, computed from their summaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archlab.inspect.summary import LayerRow, ModelSummary
from archlab.inspect.units import fmt_count, fmt_int, fmt_mb, fmt_signed, units_legend

_FIGURES = (
    ("Parameters", "total_params", "int"),
    ("Trainable parameters", "trainable_params", "int"),
    ("MACs", "macs", "count"),
    ("FLOPs (2 × MACs)", "flops", "count"),
    ("Activation memory (saved for backward)", "activation_bytes", "bytes"),
    ("Params size", "params_bytes", "bytes"),
    ("Norm elements", "norm_elements", "count"),
    ("Elementwise ops", "elementwise_ops", "count"),
)


def _fmt(value: float, kind: str) -> str:
    if kind == "int":
        return fmt_int(value)
    if kind == "bytes":
        return fmt_mb(value)
    return fmt_count(value)


def _shape(shape: Any) -> str:
    return "--" if shape is None else "[" + ", ".join(str(s) for s in shape) + "]"


@dataclass(frozen=True)
class Figure:
    """One compared figure: both values, the difference and the ratio ``b / a``."""

    label: str
    key: str
    kind: str
    a: float
    b: float

    @property
    def delta(self) -> float:
        return self.b - self.a

    @property
    def ratio(self) -> float | None:
        return self.b / self.a if self.a else None


@dataclass(frozen=True)
class ModelDiff:
    """Figures of two summaries side by side, and the modules added, removed or changed."""

    name_a: str
    name_b: str
    summary_a: ModelSummary
    summary_b: ModelSummary
    figures: list[Figure]
    added: list[LayerRow]
    removed: list[LayerRow]
    changed: list[tuple[LayerRow, LayerRow]]

    def _figure_rows(self) -> list[list[str]]:
        rows = []
        for f in self.figures:
            ratio = f"{f.ratio:.3f}×" if f.ratio is not None else "--"
            rows.append([f.label, _fmt(f.a, f.kind), _fmt(f.b, f.kind), fmt_signed(f.delta, f.kind), ratio])
        a, b = self.summary_a.receptive_field, self.summary_b.receptive_field
        rows.append(["Receptive field (largest finite)", a.largest or "n/a", b.largest or "n/a", "", ""])
        return rows

    def _input_line(self) -> str:
        a, b = self.summary_a, self.summary_b
        ia, ib = _shape((a.batch_size, *a.input_size)), _shape((b.batch_size, *b.input_size))
        same = ia == ib and a.dtype == b.dtype
        where = f"input {ia} {a.dtype}" if same else f"inputs {ia} {a.dtype} vs {ib} {b.dtype}"
        return f"Measured by archlab on {where}; activations in train mode; MB = 10^6 bytes; torch {a.torch_version}."

    def _change_rows(self) -> list[list[str]]:
        rows = []
        for r in self.added:
            rows.append(
                ["added", r.name, r.type, f"+{fmt_int(r.params)}", fmt_count(r.macs), _shape(r.output_shape)]
            )
        for r in self.removed:
            rows.append(
                [
                    "removed",
                    r.name,
                    r.type,
                    f"−{fmt_int(r.params)}",
                    fmt_count(r.macs),
                    _shape(r.output_shape),
                ]
            )
        for ra, rb in self.changed:
            kind = ra.type if ra.type == rb.type else f"{ra.type} → {rb.type}"
            params = f"{fmt_int(ra.params)} → {fmt_int(rb.params)}"
            macs = f"{fmt_count(ra.macs)} → {fmt_count(rb.macs)}"
            shape = (
                _shape(ra.output_shape)
                if ra.output_shape == rb.output_shape
                else f"{_shape(ra.output_shape)} → {_shape(rb.output_shape)}"
            )
            rows.append(["changed", ra.name, kind, params, macs, shape])
        return rows

    def to_markdown(self) -> str:
        """A changelog section: the figures table, then the blocks added, removed or changed."""
        out = [f"### {self.name_a} → {self.name_b}", "", self._input_line(), ""]
        out.append(f"| figure | {self.name_a} | {self.name_b} | Δ | ratio |")
        out.append("|---|---:|---:|---:|---:|")
        out += ["| " + " | ".join(r) + " |" for r in self._figure_rows()]
        changes = self._change_rows()
        out.append("")
        if not changes:
            out.append("No block added, removed or changed at this depth.")
            return "\n".join(out)
        out.append(
            f"Blocks: {len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed."
        )
        out.append("")
        out.append("| change | block | type | params | MACs | output shape |")
        out.append("|---|---|---|---:|---:|---|")
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in changes]
        return "\n".join(out)

    def to_table(self) -> str:
        """The same content as plain aligned text."""
        head = ["figure", self.name_a, self.name_b, "delta", "ratio"]
        return "\n".join(
            [self._input_line(), _aligned([head] + self._figure_rows()), ""]
            + (
                [
                    _aligned(
                        [["change", "block", "type", "params", "MACs", "output shape"]] + self._change_rows()
                    )
                ]
                if self._change_rows()
                else ["No block added, removed or changed."]
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with exact values, the units and the torch version."""
        return {
            "tool": "archlab.inspect.diff",
            "torch_version": self.summary_a.torch_version,
            "units": units_legend(),
            "a": self.name_a,
            "b": self.name_b,
            "figures": [
                {"figure": f.label, "key": f.key, "a": f.a, "b": f.b, "delta": f.delta, "ratio": f.ratio}
                for f in self.figures
            ],
            "added": [r.to_dict() for r in self.added],
            "removed": [r.to_dict() for r in self.removed],
            "changed": [{"a": ra.to_dict(), "b": rb.to_dict()} for ra, rb in self.changed],
        }


def _aligned(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _under(name: str, parents: set[str]) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:i]) in parents for i in range(1, len(parts)))


def _differs(a: LayerRow, b: LayerRow) -> bool:
    return (a.type, a.params, a.macs, a.output_shape) != (b.type, b.params, b.macs, b.output_shape)


def diff(summary_a: ModelSummary, summary_b: ModelSummary, name_a: str = "A", name_b: str = "B") -> ModelDiff:
    """Compare two summaries: figures with deltas and ratios, and modules matched by name.

    A module present in only one model is added or removed (its sub-modules are not listed
    again); a module in both whose type, parameters, MACs or output shape differ is
    changed, listed at the shallowest level where the difference shows.
    """
    figures = [
        Figure(label, key, kind, getattr(summary_a, key), getattr(summary_b, key))
        for label, key, kind in _FIGURES
    ]
    rows_a = {r.name: r for r in summary_a.rows}
    rows_b = {r.name: r for r in summary_b.rows}
    added_names = {n for n in rows_b if n not in rows_a}
    removed_names = {n for n in rows_a if n not in rows_b}
    added = [rows_b[n] for n in rows_b if n in added_names and not _under(n, added_names)]
    removed = [rows_a[n] for n in rows_a if n in removed_names and not _under(n, removed_names)]
    changed_names = {n for n in rows_a if n in rows_b and _differs(rows_a[n], rows_b[n])}
    changed = [(rows_a[n], rows_b[n]) for n in rows_a if n in changed_names and not _under(n, changed_names)]
    return ModelDiff(name_a, name_b, summary_a, summary_b, figures, added, removed, changed)
