"""A run directory read back tolerantly: :func:`load_run` and :class:`Run`.

A report may be written for a finished run, a killed one, or a run whose records lack
some metric; every accessor returns ``None`` or an empty value for what is missing
instead of raising. The model itself is rebuilt on demand by :meth:`Run.restore`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from archlab.data.inputspec import InputSpec
from archlab.rundir.layout import MARKERS, RunDir
from archlab.rundir.restore import Restored, restore

# Headline metrics, first present wins: single-label accuracy, then the multi-label ones.
METRIC_KEYS = ("acc", "map_macro", "macro_f1", "subset_acc", "micro_f1")
LOWER_IS_BETTER = ("loss", "hamming_loss")


@dataclass
class Run:
    """A run directory read tolerantly: everything a report, compare or search needs from it."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]]
    results: dict[str, Any]
    summary: str
    meta: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    rundir: RunDir | None = None

    @property
    def files(self) -> RunDir:
        """The run directory's reader and writer."""
        return self.rundir or RunDir(self.path)

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
        spec = self.spec
        if spec is not None:
            return spec.task
        ev = self.eval_split
        if ev and any("acc" not in r.get(ev, {}) and "map_macro" in r.get(ev, {}) for r in self.history):
            return "multi_label"
        return "single_label"

    @property
    def classes(self) -> list[str]:
        spec = self.spec
        if spec is not None:
            return list(spec.classes)
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
        """Epochs the run was set to train: the curriculum's stages summed, else ``train.epochs``."""
        stages = self.config.get("curriculum")
        if isinstance(stages, list) and stages:
            total = sum(s.get("epochs", 1) for s in stages if isinstance(s, dict))
            return int(total) if total else None
        value = self.config.get("train", {}).get("epochs")
        return int(value) if isinstance(value, int) else None

    @property
    def spec(self) -> InputSpec | None:
        """The input specification stored in the checkpoint, when one is readable."""
        try:
            return InputSpec.from_checkpoint(self.meta)
        except (KeyError, TypeError, ValueError):
            return None

    def restore(self, which: str = "best", device: str | torch.device = "cpu") -> Restored:
        """The run's model in eval mode, with its input specification (see :func:`restore`)."""
        return restore(self.path, which, device)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def load_run(run_dir: str | Path, with_checkpoint: bool = True) -> Run:
    """Read ``run_dir``; raise ``FileNotFoundError`` only when it is not a run directory at all."""
    rd = RunDir(run_dir)
    if not rd.path.is_dir():
        raise FileNotFoundError(
            f"run directory {str(rd.path)!r} not found; pass a folder written by archlab train"
        )
    if not rd.is_run():
        raise FileNotFoundError(
            f"{str(rd.path)!r} is not a run directory (none of {', '.join(MARKERS)}); "
            "pass a folder written by archlab train"
        )
    notes: list[str] = []
    config: dict[str, Any] = {}
    try:
        config = rd.read_config() if (rd.path / "config.yaml").is_file() else {}
    except Exception as exc:  # noqa: BLE001 - a damaged file becomes a note in the report
        notes.append(f"config.yaml unreadable: {str(exc).splitlines()[0]}")
    history = rd.read_history(notes)
    results = _tolerant(rd.read_results, "results.json", notes)
    summary = rd.read_summary()
    meta = rd.checkpoint_meta(notes) if with_checkpoint else {}
    if not history and isinstance(meta.get("history"), list):
        history = [r for r in meta["history"] if isinstance(r, dict)]
    meta.pop("history", None)
    if not config and isinstance(meta.get("config"), dict):
        config = meta["config"]
    return Run(rd.path, config, history, results, summary, meta, notes, rundir=rd)


def _tolerant(read, name: str, notes: list[str]) -> dict[str, Any]:
    try:
        return read()
    except (OSError, ValueError) as exc:
        notes.append(f"{name} unreadable: {exc}")
        return {}
