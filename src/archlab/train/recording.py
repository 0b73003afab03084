"""Recording a run: the line printed per epoch, the run's best figures and seed 001's results block."""

from __future__ import annotations

from typing import Any

from archlab.train import curriculum
from archlab.train.build import main_metric


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
    compiling = f", {train['compile_s']:.1f}s compiling" if train.get("compile_s") else ""
    parts.append(f"{train['time_s']:.1f}s ({train['images_per_s']:,.0f} img/s{compiling})")
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
        there = results.get(f"selected_test_{key}")
        lines.append(
            f"Checkpoint best.pt: epoch {results['selected_epoch']} by {results['monitor']}"
            + (f" (test {name.lower()} there {100 * there:.2f})" if there is not None else "")
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


def _best(history: list[dict[str, Any]], split: str, key: str) -> tuple[float | None, int | None]:
    rows = [(r[split][key], r["epoch"]) for r in history if key in r.get(split, {})]
    if not rows:
        return None, None
    value = max(v for v, _ in rows)
    return value, next(e for v, e in rows if v == value)


def summarize_history(
    history: list[dict[str, Any]],
    params: int,
    monitor: str,
    best_epoch: int | None,
    task: str = "single_label",
) -> dict[str, Any]:
    """Best figures of a run (1-based epochs), as in seed 001's results block."""
    key = main_metric(task)
    train_key = key if task == "single_label" else "micro_f1"
    selected = next((r for r in history if r["epoch"] == best_epoch), None)
    out: dict[str, Any] = {"params": params, "metric": key}
    out["best_train_" + train_key], out["best_train_epoch"] = _best(history, "train", train_key)
    for split in ("val", "test"):
        out[f"best_{split}_{key}"], out[f"best_{split}_epoch"] = _best(history, split, key)
        if task == "multi_label":
            out[f"best_{split}_map_macro"], out[f"best_{split}_map_epoch"] = _best(
                history, split, "map_macro"
            )
    out.update(
        {
            f"final_test_{key}": history[-1].get("test", {}).get(key),
            "monitor": monitor,
            "selected_epoch": best_epoch,
            f"selected_test_{key}": selected.get("test", {}).get(key) if selected else None,
            "epochs_run": len(history),
            "wall_time_s": history[-1]["wall_time_s"],
            "train_time_s": sum(r["train"]["time_s"] for r in history),
            "mean_images_per_s": sum(r["train"]["images_per_s"] for r in history) / len(history),
        }
    )
    return out


def stage_results(
    history: list[dict[str, Any]], stages: list[curriculum.Stage], key: str
) -> list[dict[str, Any]]:
    """Per curriculum stage: its classes, epochs, and the best and last evaluation metric in it."""
    out = []
    for s in stages:
        rows = [r for r in history if s.first_epoch <= r["epoch"] <= s.last_epoch]
        split = "val" if rows and "val" in rows[0] else "test"
        entry = {
            "stage": s.index + 1,
            "name": s.name,
            "classes": s.classes,
            "epochs": [s.first_epoch, s.last_epoch],
            "split": split,
        }
        if rows:
            best = max(rows, key=lambda r: r[split][key])
            entry.update(
                {
                    f"best_{key}": best[split][key],
                    "best_epoch": best["epoch"],
                    f"last_{key}": rows[-1][split][key],
                    "last_per_class_f1": rows[-1][split].get("per_class_f1"),
                }
            )
        out.append(entry)
    return out
