"""Read a run directory tolerantly: whatever files exist, whatever keys the records carry.

A report may be written for a finished run, a killed one, or a run of a task whose
records lack some metric; every accessor here returns ``None`` or an empty value for
what is missing instead of raising.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Headline metrics, first present wins: single-label accuracy, then the multi-label ones.
METRIC_KEYS = ("acc", "map_macro", "macro_f1", "subset_acc", "micro_f1")
METRIC_LABELS = {
    "acc": "accuracy",
    "map_macro": "mAP (macro)",
    "macro_f1": "macro F1",
    "subset_acc": "subset accuracy",
    "micro_f1": "micro F1",
    "top5": "top-5 accuracy",
}
LOWER_IS_BETTER = ("loss", "hamming_loss")
META_KEYS = (
    "model_name",
    "classes",
    "input_size",
    "bands",
    "mean",
    "std",
    "scale",
    "task",
    "params",
    "epoch",
    "archlab_version",
    "config",
)


def _read_json(path: Path, notes: list[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError) as exc:
        notes.append(f"{path.name} unreadable: {exc}")
        return {}


def read_checkpoint_meta(run_dir: Path, notes: list[str] | None = None) -> dict[str, Any]:
    """The descriptive keys of ``best.pt`` (else ``last.pt``), memory-mapped so weights are not read."""
    import torch

    notes = [] if notes is None else notes
    for name in ("best.pt", "last.pt"):
        path = Path(run_dir) / name
        if not path.is_file():
            continue
        try:
            try:
                ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
            except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
                ckpt = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - a damaged checkpoint must not stop a report
            notes.append(f"{name} unreadable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        if isinstance(ckpt, dict):
            meta = {k: ckpt[k] for k in META_KEYS if k in ckpt}
            meta["file"] = name
            if "history" in ckpt:
                meta["history"] = ckpt["history"]
            return meta
    return {}


@dataclass
class RunData:
    """Everything a report needs from one run directory."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]]
    results: dict[str, Any]
    summary: str
    meta: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    # ---- identity -------------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return str(
            self.results.get("model")
            or self.meta.get("model_name")
            or self.config.get("model", {}).get("name")
            or "?"
        )

    @property
    def dataset(self) -> str:
        return str(self.results.get("dataset") or self.config.get("data", {}).get("name") or "?")

    @property
    def task(self) -> str:
        if self.meta.get("task"):
            return str(self.meta["task"])
        ev = self.eval_split
        if ev and any("acc" not in r.get(ev, {}) and "map_macro" in r.get(ev, {}) for r in self.history):
            return "multi_label"
        return "single_label"

    @property
    def classes(self) -> list[str]:
        if self.meta.get("classes"):
            return [str(c) for c in self.meta["classes"]]
        rec = self.last_record(self.eval_split) if self.eval_split else {}
        k = len(rec.get("per_class_f1") or rec.get("support") or [])
        return [str(i) for i in range(k)]

    @property
    def params(self) -> int | None:
        value = self.results.get("params")
        value = self.meta.get("params") if value is None else value
        return int(value) if isinstance(value, (int, float)) else None

    # ---- records --------------------------------------------------------------------------------
    @property
    def eval_split(self) -> str | None:
        """``test`` when the records hold it, else ``val``, else ``None``."""
        for split in ("test", "val"):
            if any(isinstance(r.get(split), dict) for r in self.history):
                return split
        return None

    def splits(self) -> list[str]:
        return [s for s in ("train", "val", "test") if any(isinstance(r.get(s), dict) for r in self.history)]

    def metric_key(self, split: str | None = None) -> str | None:
        """The headline metric of ``split`` (default: the evaluation split)."""
        split = split or self.eval_split
        if split is None:
            return None
        for key in METRIC_KEYS:
            if any(_num(r.get(split, {}).get(key)) is not None for r in self.history):
                return key
        return None

    def series(self, split: str | None, key: str) -> list[tuple[int, float]]:
        """``[(epoch, value), ...]`` of ``split/key`` (``split=None``: a top-level key such as ``lr``)."""
        out = []
        for i, r in enumerate(self.history, start=1):
            holder = r if split is None else r.get(split)
            v = _num(holder.get(key)) if isinstance(holder, dict) else None
            if v is not None:
                out.append((int(r.get("epoch", i)), v))
        return out

    def best(self, split: str, key: str) -> tuple[float | None, int | None]:
        """Best value of ``split/key`` and its first epoch (lowest for losses, highest otherwise)."""
        rows = self.series(split, key)
        if not rows:
            return None, None
        pick = min if key in LOWER_IS_BETTER else max
        value = pick(v for _, v in rows)
        return value, next(e for e, v in rows if v == value)

    def record(self, epoch: int | None) -> dict[str, Any]:
        for i, r in enumerate(self.history, start=1):
            if int(r.get("epoch", i)) == epoch:
                return r
        return {}

    def last_record(self, split: str | None) -> dict[str, Any]:
        for r in reversed(self.history):
            if split is None:
                return r
            if isinstance(r.get(split), dict):
                return r[split]
        return {}

    @property
    def selected_epoch(self) -> int | None:
        """The epoch of ``best.pt``: results.json's, else the checkpoint's, else the best eval metric's."""
        from_ckpt = self.meta.get("epoch") if self.meta.get("file") == "best.pt" else None
        for value in (self.results.get("selected_epoch"), from_ckpt):
            if isinstance(value, int):
                return value
        key = self.metric_key()
        return self.best(self.eval_split, key)[1] if key and self.eval_split else None

    @property
    def epochs_planned(self) -> int | None:
        value = self.config.get("train", {}).get("epochs")
        return int(value) if isinstance(value, int) else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def load_run(run_dir: str | Path, with_checkpoint: bool = True) -> RunData:
    """Read ``run_dir``; raise ``FileNotFoundError`` only when it is not a run directory at all."""
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(
            f"run directory {str(path)!r} not found; pass a folder written by archlab train"
        )
    markers = ("config.yaml", "metrics.jsonl", "results.json", "best.pt", "last.pt")
    if not any((path / m).exists() for m in markers):
        raise FileNotFoundError(
            f"{str(path)!r} is not a run directory (none of {', '.join(markers)}); pass a folder written by archlab train"
        )
    notes: list[str] = []
    config: dict[str, Any] = {}
    if (path / "config.yaml").is_file():
        try:
            loaded = yaml.safe_load((path / "config.yaml").read_text())
            config = loaded if isinstance(loaded, dict) else {}
        except (OSError, yaml.YAMLError) as exc:
            notes.append(f"config.yaml unreadable: {str(exc).splitlines()[0]}")
    history: list[dict[str, Any]] = []
    if (path / "metrics.jsonl").is_file():
        for n, line in enumerate((path / "metrics.jsonl").read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                notes.append(f"metrics.jsonl line {n} is not JSON (skipped)")
                continue
            if isinstance(rec, dict):
                history.append(rec)
    results = _read_json(path / "results.json", notes)
    summary = (path / "summary.txt").read_text() if (path / "summary.txt").is_file() else ""
    meta = read_checkpoint_meta(path, notes) if with_checkpoint else {}
    if not history and isinstance(meta.get("history"), list):
        history = [r for r in meta["history"] if isinstance(r, dict)]
    meta.pop("history", None)
    if not config and isinstance(meta.get("config"), dict):
        config = meta["config"]
    return RunData(path, config, history, results, summary, meta, notes)
