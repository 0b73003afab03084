"""``report.md`` and a self-contained ``report.html`` for one run directory.

The report follows seed 001's experiment log (Targets, Results, Analysis) with the
figures filled in from the run, then the evidence: learning curves, confusion matrix,
per-class precision/recall/F1, per-epoch table, model summary, timing, environment and
the resolved config. Missing files or metric keys leave their section out (or say so);
they never stop the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from archlab.report import plots
from archlab.report.analysis import observations, pct
from archlab.report.doc import METRIC_LABELS, Doc
from archlab.rundir import Run, load_run
from archlab.train.recording import ordinal, short_count

IMAGE_DIR = "report"
PER_CLASS = (("precision", "per_class_precision"), ("recall", "per_class_recall"), ("F1", "per_class_f1"))


def _status(run: Run) -> str:
    n, planned = len(run.history), run.epochs_planned
    if not n:
        return "no epoch recorded yet"
    if run.results.get("stopped_early"):
        return f"stopped early after {n} of {planned} epochs"
    if run.results and planned and n < planned:
        return f"finished, {n} of {planned} epochs"
    if run.results:
        return f"finished, {n} epochs"
    return f"in progress or interrupted: {n} of {planned or '?'} epochs recorded"


RESULT_NAMES = {
    "acc": "Accuracy",
    "map_macro": "mAP (macro)",
    "macro_f1": "Macro F1",
    "micro_f1": "Micro F1",
    "subset_acc": "Subset Accuracy",
}


def _metric_name(key: str) -> str:
    return RESULT_NAMES.get(key, METRIC_LABELS.get(key, key.replace("_", " ")))


def results_lines(run: Run) -> list[str]:
    """Seed 001's Results block: parameters, best train/val/test metric and its epoch, the kept checkpoint."""
    lines = []
    if run.params is not None:
        lines.append(f"Parameters: {run.params:,} ({short_count(run.params)})")
    keys = [run.metric_key()] if run.task != "multi_label" else ["map_macro", "macro_f1", "subset_acc"]
    for key in [k for k in keys if k]:
        for split in run.splits():
            value, epoch = run.best(split, key)
            if value is not None:
                lines.append(
                    f"Best {split.capitalize()} {_metric_name(key)}: {pct(value)} ({ordinal(epoch)} Epoch)"
                )
    sel = run.selected_epoch
    if sel is not None:
        by = run.results.get("monitor")
        lines.append(f"Checkpoint best.pt: epoch {sel}" + (f", selected by {by}" if by else ""))
    ev = run.eval_split
    last = run.last_record(ev) if ev else {}
    extras = [
        f"{name} {pct(last[k])}"
        for k, name in (
            ("acc", "accuracy"),
            ("top5", "top-5"),
            ("macro_f1", "macro F1"),
            ("map_macro", "mAP"),
        )
        if isinstance(last.get(k), (int, float))
    ]
    if isinstance(last.get("hamming_loss"), (int, float)):
        extras.append(f"Hamming loss {last['hamming_loss']:.4f}")
    if extras:
        lines.append(f"Final epoch ({ev}): " + ", ".join(extras))
    return lines


def _figure(run: Run, what: str, draw: Callable[..., bytes | None], *args: Any) -> bytes | None:
    """``draw(*args)``, or ``None`` with a note in the report when the records cannot be drawn."""
    try:
        return draw(*args)
    except Exception as exc:  # noqa: BLE001 - a malformed record loses its figure, never the report
        run.notes.append(
            f"{what} not drawn: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
        return None


def _per_class_section(doc: Doc, run: Run, charts: bool) -> None:
    ev = run.eval_split
    if ev is None:
        return
    epoch = run.selected_epoch
    rec = run.record(epoch).get(ev) if epoch is not None else None
    if not isinstance(rec, dict):
        rec, epoch = run.last_record(ev), len(run.history)
    series = {name: rec[key] for name, key in PER_CLASS if isinstance(rec.get(key), list)}
    if isinstance(rec.get("per_class_ap"), list):
        series["AP"] = rec["per_class_ap"]
    if not series and not isinstance(rec.get("confusion"), list):
        return
    k = max(len(v) for v in series.values()) if series else len(rec["confusion"])
    classes = run.classes if len(run.classes) == k else [str(i) for i in range(k)]
    doc.h2(f"Per-class results ({ev}, epoch {epoch})")
    if charts and isinstance(rec.get("confusion"), list) and rec["confusion"]:
        png = _figure(
            run,
            "confusion matrix",
            plots.confusion_matrix,
            rec["confusion"],
            classes,
            f"Confusion matrix ({ev}, epoch {epoch})",
        )
        if png:
            doc.image(
                "confusion.png", png, "Rows: true class; columns: predicted; colour: fraction of the row."
            )
    if charts and series:
        png = _figure(
            run,
            "per-class bars",
            plots.per_class_bars,
            classes,
            series,
            f"Per-class scores ({ev}, epoch {epoch})",
        )
        if png:
            doc.image("per_class.png", png, "Per-class " + ", ".join(series) + ".")
    if series:
        support = rec.get("support") if isinstance(rec.get("support"), list) else None
        header = ["class", *series] + (["support"] if support else [])
        rows = []
        for i, name in enumerate(classes):
            row: list[Any] = [name]
            row += [
                f"{v[i]:.3f}" if i < len(v) and isinstance(v[i], (int, float)) else "-"
                for v in series.values()
            ]
            if support:
                n = support[i] if i < len(support) else None
                row.append(f"{int(n):,}" if isinstance(n, (int, float)) else "-")
            rows.append(row)
        doc.table(header, rows)


def _epoch_table(doc: Doc, run: Run) -> None:
    key = run.metric_key() or "acc"
    cols: list[tuple[str, str | None, str]] = [("lr", None, "lr")]
    for split in run.splits():
        cols.append((f"{split} loss", split, "loss"))
        if run.series(split, key):
            cols.append((f"{split} {METRIC_LABELS.get(key, key)}", split, key))
    ev = run.eval_split
    if ev and key != "macro_f1" and run.series(ev, "macro_f1"):
        cols.append((f"{ev} macro F1", ev, "macro_f1"))
    cols += [
        ("images/s", "train", "images_per_s"),
        ("train s", "train", "time_s"),
        ("eval s", None, "eval_time_s"),
    ]
    cols = [c for c in cols if run.series(c[1], c[2])]
    rows = []
    for i, r in enumerate(run.history, start=1):
        row: list[str] = [str(r.get("epoch", i))]
        for _, split, k in cols:
            holder = r if split is None else r.get(split, {})
            v = holder.get(k) if isinstance(holder, dict) else None
            if not isinstance(v, (int, float)):
                row.append("-")
            elif k == "lr":
                row.append(f"{v:.2e}")
            elif k in ("loss", "hamming_loss"):
                row.append(f"{v:.4f}")
            elif k == "images_per_s":
                row.append(f"{v:,.0f}")
            elif k.endswith("time_s"):
                row.append(f"{v:.1f}")
            else:
                row.append(pct(v))
        rows.append(row)
    doc.h2("Per-epoch metrics")
    doc.table(["epoch", *[c[0] for c in cols]], rows)


def _timing_and_environment(doc: Doc, run: Run) -> None:
    r, h = run.results, run.history
    rows: list[list[str]] = [["epochs run", str(len(h))]]
    wall = r.get("wall_time_s", h[-1].get("wall_time_s") if h else None)
    train_s = r.get("train_time_s", sum(x.get("train", {}).get("time_s", 0.0) for x in h) if h else None)
    eval_s = sum(x.get("eval_time_s", 0.0) for x in h) if h else None
    ips = r.get("mean_images_per_s")
    if ips is None and run.series("train", "images_per_s"):
        vals = [v for _, v in run.series("train", "images_per_s")]
        ips = sum(vals) / len(vals)
    for label, value, fmt in (
        ("wall time", wall, "{:.1f} s"),
        ("training time", train_s, "{:.1f} s"),
        ("evaluation time", eval_s, "{:.1f} s"),
        ("mean time per epoch", (wall / len(h)) if wall and h else None, "{:.1f} s"),
        ("mean training throughput", ips, "{:,.0f} images/s"),
    ):
        if isinstance(value, (int, float)):
            rows.append([label, fmt.format(value)])
    doc.h2("Timing")
    doc.table(["", "value"], rows)
    env = dict(r.get("environment") or {})
    device = run.config.get("run", {}).get("device")
    rows = [[k, str(v)] for k, v in env.items() if v is not None]
    if device:
        rows.append(["run.device", str(device)])
    if env:
        rows.append(["device used", str(env.get("gpu") or ("cuda" if env.get("cuda") else "cpu"))])
    if run.meta.get("archlab_version"):
        rows.append(["archlab", str(run.meta["archlab_version"])])
    doc.h2("Environment")
    doc.table(["", "value"], rows)


def _curriculum_section(doc: Doc, run: Run) -> None:
    """Per curriculum stage: its classes, epochs and best/last evaluation metric (results.json ``stages``)."""
    stages = run.results.get("stages") or []
    if not stages:
        return
    doc.h2("Curriculum stages")
    rows = []
    for st in stages:
        key = next((k[5:] for k in st if k.startswith("best_") and k != "best_epoch"), None)
        best = st.get(f"best_{key}") if key else None
        last = st.get(f"last_{key}") if key else None
        classes = ", ".join(str(c) for c in st.get("classes") or []) or "all"
        first, final = (st.get("epochs") or ["?", "?"])[:2]
        rows.append(
            [
                st.get("stage"),
                st.get("name", ""),
                classes,
                f"{first}–{final}",
                st.get("split", ""),
                pct(best) if best is not None else "-",
                st.get("best_epoch", "-"),
                pct(last) if last is not None else "-",
            ]
        )
    metric = _metric_name(key) if stages and key else "metric"
    doc.table(
        ["stage", "name", "classes", "epochs", "split", f"best {metric}", "at epoch", f"last {metric}"], rows
    )


def _sampler_section(doc: Doc, run: Run) -> None:
    """The weighted sampler's effect per class: share of the data against share of the draws (sampler.json)."""
    try:
        info = run.files.read_sampler()
    except (OSError, ValueError) as exc:
        run.notes.append(f"sampler.json unreadable ({exc})")
        return
    if not info:
        return
    doc.h2(f"Weighted sampler: {info.get('rule', '?')}")
    doc.p(
        "Share of each class in the training data and its expected share of the draws under the sampler "
        "(ratio > 1: drawn more often than its frequency). Seed 002 traced the collapse of its frequent "
        "classes to plain inverse frequency, which draws every class equally often."
    )
    for stage, rows in (info.get("stages") or {}).items():
        if len(info.get("stages") or {}) > 1:
            doc.h3(f"Stage {int(stage) + 1}")
        doc.table(
            ["class", "data share", "sampled share", "ratio"],
            [
                [
                    r.get("class"),
                    pct(r.get("data_share")),
                    pct(r.get("sampled_share")),
                    f"{r['ratio']:.2f}×" if r.get("ratio") is not None else "-",
                ]
                for r in rows
            ],
        )


def build_run_doc(run: Run, charts: bool = True) -> Doc:
    """The whole report of ``run`` as a :class:`Doc` (``charts=False`` skips the figures)."""
    doc = Doc(f"Run report: {run.model_name} on {run.dataset}")
    doc.meta(
        f"Run directory {run.path.name} · {_status(run)} · task {run.task} · report written "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    doc.h2("Targets")
    targets = [str(t) for t in run.config.get("targets") or []]
    if targets:
        doc.bullets(targets)
    else:
        doc.p("None given; add a targets: list to the config to have them checked in the Analysis.")
    doc.h2("Results")
    lines = results_lines(run)
    doc.bullets(lines) if lines else doc.p("No epoch recorded yet.")
    doc.h2("Analysis")
    obs = observations(run)
    doc.bullets(obs) if obs else doc.p("Nothing to analyse yet.")
    if charts and run.history:
        png = _figure(run, "learning curves", plots.learning_curves, run)
        if png:
            doc.h2("Learning curves")
            doc.image("curves.png", png, "Loss, headline metric and learning rate per epoch.")
    _per_class_section(doc, run, charts)
    _curriculum_section(doc, run)
    _sampler_section(doc, run)
    if run.history:
        _epoch_table(doc, run)
    doc.h2("Model summary")
    if run.summary.strip():
        doc.code(run.summary, "text")
    else:
        doc.p("No summary.txt in the run directory (run.summary was false).")
    _timing_and_environment(doc, run)
    if run.config:
        doc.h2("Configuration")
        doc.code(yaml.safe_dump(run.config, sort_keys=False), "yaml")
    for note in run.notes:
        doc.foot(f"Note: {note}")
    return doc


def write_run_report(run_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` (PNGs in ``report/``) and self-contained ``report.html`` into ``run_dir``."""
    run = load_run(run_dir)
    return run.files.write_report(build_run_doc(run))
