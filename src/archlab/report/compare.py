"""``archlab compare``: runs side by side — cost (parameters, MACs, activations, time) against quality.

Seed 003's architecture table and seed 000's "comparison with CustomWRNB4ECA" paragraphs,
computed from run directories instead of typed by hand. MACs and activation memory come
from :func:`archlab.inspect.summarize` on the model rebuilt from the checkpoint's
``model_name``/``config``/``classes``/``input_size`` (no weights needed) and are cached in
the run directory as ``measure.json``, so a second comparison is instant.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlab.report import plots
from archlab.report.analysis import pct
from archlab.report.doc import METRIC_LABELS, Doc
from archlab.report.run_report import short_count
from archlab.rundir import Run, load_run

FORMATS = ("md", "html", "csv")


@dataclass
class Row:
    """One run's line of the comparison; ``None`` where a figure is unavailable."""

    run: Run
    label: str
    params: int | None = None
    macs: int | None = None
    activation_bytes: int | None = None
    train_time_s: float | None = None
    images_per_s: float | None = None
    split: str | None = None
    metric: str | None = None
    best: float | None = None
    best_epoch: int | None = None
    macro_f1: float | None = None
    notes: list[str] = field(default_factory=list)


def _fingerprint(run: Run) -> dict[str, Any]:
    from archlab import __version__

    return {
        "model_name": run.meta.get("model_name") or run.model_name,
        "kwargs": dict(run.config.get("model", {}).get("kwargs") or {}),
        "num_classes": run.spec.num_classes if run.spec else None,
        "input_size": list(run.spec.input_size) if run.spec else [],
        "archlab_version": __version__,
    }


def measure(run: Run) -> tuple[dict[str, Any] | None, str | None]:
    """``({"macs", "activation_bytes", "params"}, None)`` or ``(None, why)``; cached in ``measure.json``."""
    key = _fingerprint(run)
    try:
        data = run.files.read_measured()
        if data.get("key") == key:
            return data["measured"], None
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if not key["input_size"] or not key["num_classes"]:
        return None, "no checkpoint with classes and input_size (best.pt / last.pt missing)"
    try:
        from archlab.inspect import summarize
        from archlab.models import create_model

        model = create_model(
            key["model_name"], num_classes=key["num_classes"], in_chans=key["input_size"][0], **key["kwargs"]
        )
        s = summarize(model, tuple(key["input_size"]), batch_size=1)
        measured = {
            "macs": int(s.macs),
            "activation_bytes": int(s.activation_bytes),
            "params": int(s.total_params),
            "input_size": key["input_size"],
        }
    except Exception as exc:  # noqa: BLE001 - any failure becomes a footnote, never a crash
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"inspect failed: {first}"
    try:
        run.files.write_measured({"key": key, "measured": measured})
    except OSError:
        pass  # a read-only run directory is compared without a cache
    return measured, None


def _labels(runs: list[Run]) -> list[str]:
    names = [r.model_name for r in runs]
    return [f"{n} ({r.path.name})" if names.count(n) > 1 else n for n, r in zip(names, runs)]


def collect(run_dirs: list[str | Path]) -> list[Row]:
    """Read and measure every run; raise ``FileNotFoundError`` for a folder that is not a run."""
    runs = [load_run(d) for d in run_dirs]
    rows = []
    for run, label in zip(runs, _labels(runs)):
        row = Row(run=run, label=label, params=run.params)
        measured, why = measure(run)
        if measured is not None:
            row.macs, row.activation_bytes = measured["macs"], measured["activation_bytes"]
            row.params = row.params if row.params is not None else measured["params"]
        else:
            row.notes.append(f"{run.path.name}: MACs and activations not measured, {why}")
        r = run.results
        row.train_time_s = r.get("train_time_s")
        if row.train_time_s is None and run.series("train", "time_s"):
            row.train_time_s = sum(v for _, v in run.series("train", "time_s"))
        row.images_per_s = r.get("mean_images_per_s")
        ips = run.series("train", "images_per_s")
        if row.images_per_s is None and ips:
            row.images_per_s = sum(v for _, v in ips) / len(ips)
        row.split, row.metric = run.eval_split, run.metric_key()
        if row.split and row.metric:
            row.best, row.best_epoch = run.best(row.split, row.metric)
            f1 = dict(run.series(row.split, "macro_f1"))
            row.macro_f1 = f1.get(row.best_epoch)
        rows.append(row)
    return rows


def _metric_header(rows: list[Row]) -> str:
    kinds = {(r.split, r.metric) for r in rows if r.metric}
    if len(kinds) == 1:
        split, metric = next(iter(kinds))
        return f"best {split} {METRIC_LABELS.get(metric, metric)}"
    return "best metric"


def table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells of the comparison table."""
    uniform = len({(r.split, r.metric) for r in rows if r.metric}) <= 1
    header = [
        "model",
        "dataset",
        "parameters",
        "MACs",
        "activations (MB)",
        "train time (s)",
        "images/s",
        _metric_header(rows),
        "epoch",
        "macro F1",
    ]
    out = []
    for r in rows:
        best = pct(r.best) if r.best is not None else "-"
        if not uniform and r.metric:
            best += f" ({r.split} {METRIC_LABELS.get(r.metric, r.metric)})"
        out.append(
            [
                r.label,
                r.run.dataset,
                f"{r.params:,}" if r.params is not None else "-",
                short_count(r.macs) if r.macs is not None else "-",
                f"{r.activation_bytes / 1e6:.2f}" if r.activation_bytes is not None else "-",
                f"{r.train_time_s:.1f}" if r.train_time_s is not None else "-",
                f"{r.images_per_s:,.0f}" if r.images_per_s is not None else "-",
                best,
                str(r.best_epoch) if r.best_epoch is not None else "-",
                f"{r.macro_f1:.4f}" if r.macro_f1 is not None else "-",
            ]
        )
    return header, out


def _ratio(a: float, b: float, unit: str = "") -> str:
    """``a`` against the baseline ``b``, as seed 000 wrote it: values then the relative change."""
    if b == 0:
        return f"{a:,.0f}{unit} vs {b:,.0f}{unit}"
    change = 100 * (a / b - 1)
    if a and b / a >= 2:
        rel = f"{b / a:.1f}× fewer"
    elif a / b >= 2:
        rel = f"{a / b:.1f}× more"
    else:
        rel = f"{change:+.1f}%"
    return rel


def relative_lines(rows: list[Row]) -> list[str]:
    """Seed 000's comparison paragraphs: each run against the first (parameters, MACs, activations, metric)."""
    if len(rows) < 2:
        return []
    base = rows[0]
    out = []
    for r in rows[1:]:
        parts = []
        if r.params is not None and base.params is not None:
            parts.append(f"parameters {r.params:,} vs {base.params:,} ({_ratio(r.params, base.params)})")
        if r.macs is not None and base.macs is not None:
            parts.append(
                f"MACs {short_count(r.macs)} vs {short_count(base.macs)} ({_ratio(r.macs, base.macs)})"
            )
        if r.activation_bytes is not None and base.activation_bytes is not None:
            parts.append(
                f"activations {r.activation_bytes / 1e6:.2f} MB vs {base.activation_bytes / 1e6:.2f} MB "
                f"({_ratio(r.activation_bytes, base.activation_bytes)})"
            )
        if r.best is not None and base.best is not None and (r.split, r.metric) == (base.split, base.metric):
            parts.append(
                f"best {METRIC_LABELS.get(r.metric, r.metric)} {pct(r.best)} vs {pct(base.best)} "
                f"({100 * (r.best - base.best):+.2f} points)"
            )
        if parts:
            out.append(f"{r.label} vs {base.label}: " + "; ".join(parts) + ".")
    return out


def to_csv(rows: list[Row]) -> str:
    """Unformatted figures, one row per run (ratios as fractions, times in seconds)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "run_dir",
            "model",
            "dataset",
            "params",
            "macs",
            "activation_bytes",
            "train_time_s",
            "images_per_s",
            "split",
            "metric",
            "best",
            "best_epoch",
            "macro_f1",
        ]
    )
    for r in rows:
        w.writerow(
            [
                str(r.run.path),
                r.run.model_name,
                r.run.dataset,
                *("" if v is None else v for v in (r.params, r.macs, r.activation_bytes)),
                *("" if v is None else f"{v:.6g}" for v in (r.train_time_s, r.images_per_s)),
                r.split or "",
                r.metric or "",
                "" if r.best is None else f"{r.best:.6g}",
                "" if r.best_epoch is None else r.best_epoch,
                "" if r.macro_f1 is None else f"{r.macro_f1:.6g}",
            ]
        )
    return buf.getvalue()


def build_compare_doc(rows: list[Row], charts: bool = True) -> Doc:
    """The comparison page: table, relative lines, scatter plots, overlaid curves, footnotes."""
    doc = Doc(f"Comparison of {len(rows)} runs")
    doc.h2("Table")
    header, cells = table(rows)
    doc.table(header, cells)
    rel = relative_lines(rows)
    if rel:
        doc.h2(f"Against {rows[0].label}")
        doc.bullets(rel)
    metric = _metric_header(rows)
    if charts:
        panels = [("parameters", [r.params for r in rows])]
        if any(r.macs for r in rows):
            panels.append(("MACs", [r.macs for r in rows]))
        quality = [100 * r.best if r.best is not None else None for r in rows]
        if any(q is not None for q in quality) and any(r.params for r in rows):
            doc.h2("Cost against quality")
            png = plots.cost_scatter([r.label for r in rows], panels, quality, f"{metric} (%)")
            doc.image(
                "cost_vs_quality.png",
                png,
                "Each run's best metric against its parameters and MACs (batch 1).",
            )
        curves = [
            (r.label, r.run.series(r.split, r.metric), r.run.series(r.split, "loss"))
            for r in rows
            if r.split and r.metric
        ]
        if curves:
            doc.h2("Learning curves")
            name = METRIC_LABELS.get(rows[0].metric or "", "metric")
            doc.image("curves.png", plots.overlaid_curves(curves, f"evaluation {name}"))
    doc.foot(
        "MACs: multiply-accumulates of one forward pass at the run's input size, batch 1. Activations: tensors "
        "autograd keeps for the backward pass at batch 1, float32. Train time: summed over epochs. "
        "Best metric: highest over the epochs on the evaluation split (test, else val)."
    )
    for n, note in enumerate([note for r in rows for note in r.notes], start=1):
        doc.foot(f"[{n}] {note}")
    return doc


def compare_runs(run_dirs: list[str | Path], fmt: str = "md", out: str | Path | None = None) -> str:
    """The comparison of ``run_dirs`` as markdown, self-contained HTML or CSV; written to ``out`` if given.

    Markdown written to a file gets its plots as PNGs in ``<out stem>_files/``; markdown
    returned without ``out`` holds the table, the comparison lines and the footnotes only.
    """
    if fmt not in FORMATS:
        raise ValueError(f"compare format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not run_dirs:
        raise ValueError("compare needs at least one run directory; pass RUN_DIR [RUN_DIR ...]")
    rows = collect(list(run_dirs))
    if fmt == "csv":
        text = to_csv(rows)
        if out is not None:
            Path(out).write_text(text)
        return text
    if fmt == "html":
        text = build_compare_doc(rows).html()
        if out is not None:
            Path(out).write_text(text)
        return text
    if out is None:
        return build_compare_doc(rows, charts=False).markdown()
    out = Path(out)
    doc = build_compare_doc(rows)
    doc.write(out, f"{out.stem}_files", with_html=False)
    return out.read_text()
