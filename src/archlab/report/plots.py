"""Report figures as PNG bytes: learning curves, confusion matrix, per-class bars, comparison plots.

Figures are drawn on matplotlib's Agg canvas directly (``matplotlib.figure.Figure``), never
through ``pyplot``: no global backend switch, no figure registry to leak, safe in a
notebook or a worker thread.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from archlab.report.doc import METRIC_LABELS
from archlab.rundir import Run

SPLIT_COLORS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
DPI = 100


def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _epoch_axis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)


def learning_curves(run: Run) -> bytes | None:
    """Loss, headline metric and learning rate per epoch, one panel each; ``None`` without records."""
    if not run.history:
        return None
    key = run.metric_key()
    lr = run.series(None, "lr")
    panels = ["loss"] + (["metric"] if key else []) + (["lr"] if lr else [])
    fig = _figure(4.0 * len(panels), 3.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        if panel == "lr":
            ax.plot([e for e, _ in lr], [v for _, v in lr], color="#9467bd", marker=".")
            ax.set_title("learning rate")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        else:
            k = "loss" if panel == "loss" else key
            for split in run.splits():
                rows = run.series(split, k)
                if rows:
                    scale = 1.0 if panel == "loss" else 100.0
                    ax.plot(
                        [e for e, _ in rows],
                        [scale * v for _, v in rows],
                        marker=".",
                        color=SPLIT_COLORS[split],
                        label=split,
                    )
            ax.set_title("loss" if panel == "loss" else f"{METRIC_LABELS.get(k, k)} (%)")
            if ax.lines:
                ax.legend(fontsize=9)
        _epoch_axis(ax)
    return _png(fig)


def confusion_matrix(confusion: Sequence[Sequence[float]], classes: Sequence[str], title: str) -> bytes:
    """Counts coloured by row-normalised recall; counts written in cells up to 20 classes."""
    import numpy as np

    cm = np.asarray(confusion, dtype=float)
    k = cm.shape[0]
    names = list(classes) if len(classes) == k else [str(i) for i in range(k)]
    side = min(12.0, max(4.5, 0.38 * k + 2.2))
    fig = _figure(side + 1.0, side)
    ax = fig.subplots()
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    ticks = range(k)
    ax.set_xticks(ticks, names if k <= 40 else [""] * k, rotation=90 if k > 10 else 0, fontsize=8)
    ax.set_yticks(ticks, names if k <= 40 else [""] * k, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{int(cm[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "#1f2328",
                    )
    return _png(fig)


def per_class_bars(
    classes: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str,
) -> bytes:
    """Grouped horizontal bars (precision, recall, F1, ...) per class, in class order."""
    import numpy as np

    k = len(classes)
    names = list(series)
    fig = _figure(8.0, min(24.0, max(3.0, 0.13 * k * max(1, len(names)) + 1.2)))
    ax = fig.subplots()
    height = 0.8 / max(1, len(names))
    y = np.arange(k)
    colors = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
    for n, name in enumerate(names):
        vals = [float(v) if v is not None else 0.0 for v in series[name]][:k]
        ax.barh(
            y[: len(vals)] + (n - (len(names) - 1) / 2) * height,
            vals,
            height,
            label=name,
            color=colors[n % 4],
        )
    ax.set_yticks(y, list(classes), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("score")
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=len(names), fontsize=8)
    return _png(fig)


def _short_tick(value: float, _pos: int) -> str:
    """Log-axis tick labels as 20k, 1.5M: readable where a decade holds several ticks."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:g}{unit}"
    return f"{value:g}"


def _minor_tick(value: float, pos: int) -> str:
    """Minor log ticks labelled at 2× and 5× a power of ten only, so labels never collide."""
    lead = value / 10 ** math.floor(math.log10(value)) if value > 0 else 0
    return _short_tick(value, pos) if round(lead, 6) in (2.0, 5.0) else ""


def cost_scatter(
    labels: Sequence[str],
    panels: Sequence[tuple[str, Sequence[float | None]]],
    quality: Sequence[float | None],
    ylabel: str,
) -> bytes:
    """Quality against each cost (parameters, MACs) on log x axes, one panel per cost, runs in a shared legend."""
    from matplotlib.ticker import FuncFormatter

    markers = "osD^vP*Xh<>"
    fig = _figure(5.2 * len(panels), 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (xlabel, xs) in zip(axes, panels):
        for n, (label, x, y) in enumerate(zip(labels, xs, quality)):
            if x is None or y is None or x <= 0:
                continue
            ax.scatter(
                [x], [y], s=46, color=f"C{n % 10}", marker=markers[n % len(markers)], label=label, zorder=3
            )
            ax.annotate(str(n + 1), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_short_tick))
        ax.xaxis.set_minor_formatter(FuncFormatter(_minor_tick))
        ax.margins(0.12)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} vs {xlabel}", fontsize=10)
        ax.grid(True, alpha=0.3, which="both")
    handles, names = axes[0].get_legend_handles_labels()
    if handles:
        names = [f"{labels.index(name) + 1}. {name}" for name in names]
        fig.legend(handles, names, loc="outside lower center", ncols=min(3, len(handles)), fontsize=8)
    return _png(fig)


def overlaid_curves(
    curves: Sequence[tuple[str, list[tuple[int, float]], list[tuple[int, float]]]], metric: str
) -> bytes:
    """Evaluation metric and loss per epoch of several runs ``(label, metric_rows, loss_rows)``, one legend below."""
    fig = _figure(11.0, 4.2)
    ax_m, ax_l = fig.subplots(1, 2)
    for n, (label, metric_rows, loss_rows) in enumerate(curves):
        style = {"marker": ".", "color": f"C{n % 10}", "label": label}
        if metric_rows:
            ax_m.plot([e for e, _ in metric_rows], [100 * v for _, v in metric_rows], **style)
        if loss_rows:
            ax_l.plot([e for e, _ in loss_rows], [v for _, v in loss_rows], **style)
    ax_m.set_title(f"{metric} (%)")
    ax_l.set_title("evaluation loss")
    for ax in (ax_m, ax_l):
        _epoch_axis(ax)
    handles, names = (ax_m if ax_m.lines else ax_l).get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncols=min(3, len(handles)), fontsize=8)
    return _png(fig)
