"""The run directory: resolved config, per-epoch metrics (JSONL and CSV), results.

Metric files are rewritten from the history held in the checkpoint at the end
of every epoch, so after a kill they always agree with ``last.pt``.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import yaml

from archlab.train.checkpoint import atomic_write_text

CONFIG = "config.yaml"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
SUMMARY = "summary.txt"
RESULTS = "results.json"
BEST = "best.pt"
LAST = "last.pt"


def new_run_dir(out_dir: str | Path, name: str | None, model: str, dataset: str) -> Path:
    """Create ``out_dir/name`` (default ``model-dataset-YYYYmmdd-HHMMSS``), never reusing one."""
    base = name or f"{model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = Path(out_dir)
    path, k = out / base, 1
    while path.exists():
        k += 1
        path = out / f"{base}-{k}"
    path.mkdir(parents=True)
    return path


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """``{"epoch": 1, "test": {"acc": .9}}`` -> ``{"epoch": 1, "test/acc": .9}`` (scalars only)."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for k2, v2 in value.items():
                if isinstance(v2, (int, float, str)) and not isinstance(v2, bool):
                    row[f"{key}/{k2}"] = v2
        elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
            row[key] = value
    return row


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Write the whole history as ``metrics.jsonl`` (everything) and ``metrics.csv`` (scalars)."""
    atomic_write_text(run_dir / METRICS_JSONL, "".join(json.dumps(r) + "\n" for r in history))
    rows = [flat_row(r) for r in history]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(run_dir / METRICS_CSV, buf.getvalue())


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_JSONL
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ordinal(n: int) -> str:
    """1 -> '1st', 12 -> '12th', 22 -> '22nd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def short_count(n: int) -> str:
    """7902 -> '7.9k', 1975770 -> '1.98M'."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.1f}k"
    return str(n)


def results_block(results: dict[str, Any]) -> str:
    """Seed 001's results block, filled in from a finished run."""
    lines = [
        "===================",
        "Results:",
        f"Parameters: {results['params']:,} ({short_count(results['params'])})",
        f"Best Train Accuracy: {100 * results['best_train_acc']:.2f}",
    ]
    if results.get("best_val_acc") is not None:
        lines.append(
            f"Best Val Accuracy: {100 * results['best_val_acc']:.2f} ({ordinal(results['best_val_epoch'])} Epoch)"
        )
    lines.append(
        f"Best Test Accuracy: {100 * results['best_test_acc']:.2f} ({ordinal(results['best_test_epoch'])} Epoch)"
    )
    if results.get("selected_epoch") is not None:
        lines.append(
            f"Checkpoint best.pt: epoch {results['selected_epoch']} by {results['monitor']}"
            f" (test accuracy there {100 * results['selected_test_acc']:.2f})"
        )
    lines.append(f"Wall time: {results['wall_time_s']:.1f} s over {results['epochs_run']} epochs")
    lines.append("===================")
    return "\n".join(lines)
