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


def short_count(n: float) -> str:
    """7902 -> '7.9k', 1975770 -> '1.98M', 4.1e9 -> '4.10G'."""
    for div, unit in ((1e9, "G"), (1e6, "M")):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n / 1e3:.1f}k" if abs(n) >= 1e3 else f"{n:g}"


def epoch_line(record: dict[str, Any], epochs: int, key: str, splits: list[str]) -> str:
    """One summary line per epoch: train and evaluation loss and headline metric, lr, speed."""
    train = record["train"]
    tkey = key if key in train else "micro_f1"
    parts = [
        f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}",
        f"train loss {train['loss']:.4f} {_label(tkey)} {100 * train[tkey]:.2f}%",
    ]
    for split in splits:
        m = record[split]
        text = f"{split} loss {m['loss']:.4f} {_label(key)} {100 * m[key]:.2f}%"
        if "map_macro" in m:
            text += f" mAP {100 * m['map_macro']:.2f}%"
        parts.append(text)
    parts.append(f"lr {record['lr']:.2e}")
    parts.append(f"{train['time_s']:.1f}s ({train['images_per_s']:,.0f} img/s)")
    return " | ".join(parts)


def _label(key: str) -> str:
    return {"acc": "acc", "macro_f1": "macro-F1", "micro_f1": "micro-F1"}.get(key, key)


def results_block(results: dict[str, Any]) -> str:
    """Seed 001's results block, filled in from a finished run (macro F1 for multi-label runs)."""
    key = results.get("metric", "acc")
    name = {"acc": "Accuracy", "macro_f1": "Macro F1"}[key]
    train_key = "acc" if key == "acc" else "micro_f1"
    lines = [
        "===================",
        "Results:",
        f"Parameters: {results['params']:,} ({short_count(results['params'])})",
        f"Best Train {'Accuracy' if key == 'acc' else 'Micro F1'}: {100 * results['best_train_' + train_key]:.2f}",
    ]
    for split in ("val", "test"):
        if results.get(f"best_{split}_{key}") is not None:
            lines.append(
                f"Best {split.capitalize()} {name}: {100 * results[f'best_{split}_{key}']:.2f} "
                f"({ordinal(results[f'best_{split}_epoch'])} Epoch)"
            )
        if results.get(f"best_{split}_map_macro") is not None:
            lines.append(
                f"Best {split.capitalize()} mAP (macro): {100 * results[f'best_{split}_map_macro']:.2f} "
                f"({ordinal(results[f'best_{split}_map_epoch'])} Epoch)"
            )
    if results.get("selected_epoch") is not None:
        lines.append(
            f"Checkpoint best.pt: epoch {results['selected_epoch']} by {results['monitor']}"
            f" (test {name.lower()} there {100 * results[f'selected_test_{key}']:.2f})"
        )
    for st in results.get("stages", []):
        if f"best_{key}" in st:
            lines.append(
                f"Stage {st['stage']} ({st['name']}, epochs {st['epochs'][0]}-{st['epochs'][1]}): best {st['split']} "
                f"{name.lower()} {100 * st[f'best_{key}']:.2f} at epoch {st['best_epoch']}"
            )
    n = results["epochs_run"]
    lines.append(f"Wall time: {results['wall_time_s']:.1f} s over {n} epoch{'s' if n != 1 else ''}")
    lines.append("===================")
    return "\n".join(lines)
