"""The run directory: the one module that names, writes and reads every file of a run.

::

    RUN_DIR/
      config.yaml      the resolved config (resume reads it back)
      summary.txt      the model summary table
      sampler.json     the weighted sampler's per-class effect (when one is used)
      metrics.jsonl    one record per epoch, everything; metrics.csv: the same, scalars only
      last.pt          everything to resume; best.pt: the weights the monitor selected
      results.json     the run's best figures, written when it ends
      report.md        + report/ (PNGs) and report.html, self-contained
      measure.json     a cache of the model's measurement, for ``archlab compare``
      tensorboard/     event files when run.tensorboard is on

Every write is atomic (:mod:`archlab._files`); a full disk is a one-line
:class:`~archlab._files.DiskFull` naming the file, the free space and the last good
checkpoint. Metric files are rewritten from the history held in ``last.pt`` at the end of
every epoch, so after a kill they agree with it.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from archlab._files import atomic_write, atomic_write_text, unique_dir

CONFIG = "config.yaml"
SUMMARY = "summary.txt"
SAMPLER = "sampler.json"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
RESULTS = "results.json"
BEST = "best.pt"
LAST = "last.pt"
REPORT_MD = "report.md"
REPORT_IMAGES = "report"
MEASURED = "measure.json"
TENSORBOARD = "tensorboard"
CHECKPOINTS = {"best": BEST, "last": LAST}
MARKERS = (CONFIG, METRICS_JSONL, RESULTS, BEST, LAST)


class RunDir:
    """One run's folder: every file's name, and its only writer and reader."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.last_saved_epoch: int | None = None  # of last.pt, as written by this process

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # ---- creating and opening ---------------------------------------------------------------------
    @classmethod
    def create(cls, out_dir: str | Path, name: str | None, model: str, dataset: str) -> RunDir:
        """Create ``out_dir/name`` (default ``model-dataset-YYYYmmdd-HHMMSS``), never reusing one."""
        return cls(unique_dir(out_dir, name or f"{model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"))

    @classmethod
    def for_resume(cls, path: str | Path) -> RunDir:
        """An existing run to continue: it must hold its config and ``last.pt``."""
        run = cls(path)
        if not (run.path / CONFIG).is_file():
            raise FileNotFoundError(
                f"{str(run.path)!r} is not a run directory (no {CONFIG}); pass the folder a run wrote"
            )
        if not (run.path / LAST).is_file():
            raise FileNotFoundError(
                f"checkpoint {str(run.path / LAST)!r} not found: the run stopped before its first epoch "
                "ended; start it again instead of resuming"
            )
        return run

    def is_run(self) -> bool:
        return self.path.is_dir() and any((self.path / m).exists() for m in MARKERS)

    # ---- paths that other tools open themselves ----------------------------------------------------
    @property
    def report_md(self) -> Path:
        return self.path / REPORT_MD

    @property
    def report_html(self) -> Path:
        return self.report_md.with_suffix(".html")

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD

    def checkpoint_path(self, which: str = "best") -> Path:
        if which not in CHECKPOINTS:
            raise ValueError(f"which must be 'best' or 'last', got {which!r}")
        return self.path / CHECKPOINTS[which]

    # ---- config, summary, sampler, results, measurement cache ---------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        self._write_text(CONFIG, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        data = yaml.safe_load((self.path / CONFIG).read_text())
        return data if isinstance(data, dict) else {}

    def write_summary(self, text: str) -> None:
        self._write_text(SUMMARY, text.rstrip("\n") + "\n")

    def read_summary(self) -> str:
        path = self.path / SUMMARY
        return path.read_text() if path.is_file() else ""

    def write_sampler(self, data: dict[str, Any]) -> None:
        self._write_json(SAMPLER, data)

    def read_sampler(self) -> dict[str, Any]:
        return self._read_json(SAMPLER)

    def write_results(self, results: dict[str, Any]) -> None:
        self._write_json(RESULTS, results)

    def read_results(self) -> dict[str, Any]:
        return self._read_json(RESULTS)

    def write_measured(self, data: dict[str, Any]) -> None:
        self._write_json(MEASURED, data)

    def read_measured(self) -> dict[str, Any]:
        return self._read_json(MEASURED)

    # ---- metrics ---------------------------------------------------------------------------------
    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """The whole history as ``metrics.jsonl`` (everything) and ``metrics.csv`` (scalars)."""
        self._write_text(METRICS_JSONL, "".join(json.dumps(r) + "\n" for r in history))
        rows = [flat_row(r) for r in history]
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        self._write_text(METRICS_CSV, buf.getvalue())

    def read_history(self, notes: list[str] | None = None) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl``; a damaged line is skipped (and named in ``notes``)."""
        path = self.path / METRICS_JSONL
        if not path.is_file():
            return []
        history = []
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                if notes is None:
                    raise ValueError(f"{path} line {n} is not JSON; the file is damaged") from None
                notes.append(f"{METRICS_JSONL} line {n} is not JSON (skipped)")
                continue
            if isinstance(rec, dict):
                history.append(rec)
        return history

    # ---- checkpoints -----------------------------------------------------------------------------
    def save_checkpoint(self, which: str, payload: dict[str, Any]) -> Path:
        """``torch.save`` to ``best.pt``/``last.pt`` atomically; a kill or a full disk keeps the old one."""
        path = save_checkpoint(payload, self.checkpoint_path(which), self._kept_message())
        if which == "last":
            self.last_saved_epoch = payload.get("epoch")
        return path

    def load_checkpoint(
        self, which: str = "last", map_location: str | torch.device = "cpu"
    ) -> dict[str, Any]:
        return load_checkpoint(self.checkpoint_path(which), map_location)

    def checkpoint_meta(self, notes: list[str] | None = None) -> dict[str, Any]:
        """The descriptive entries of ``best.pt`` (else ``last.pt``), memory-mapped: weights are not read."""
        notes = [] if notes is None else notes
        for which in ("best", "last"):
            path = self.checkpoint_path(which)
            if not path.is_file():
                continue
            try:
                try:
                    ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
                except RuntimeError:  # the legacy (non-zip) format cannot be memory-mapped
                    ckpt = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as exc:  # noqa: BLE001 - a damaged checkpoint must not stop a report
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                notes.append(f"{path.name} unreadable: {text}")
                continue
            if isinstance(ckpt, dict):
                meta = {k: v for k, v in ckpt.items() if k not in WEIGHT_KEYS}
                meta["file"] = path.name
                return meta
        return {}

    # ---- report ----------------------------------------------------------------------------------
    def write_report(self, doc: Any) -> tuple[Path, Path]:
        """Write a report document (``.write(md_path, image_dir)``) as ``report.md`` and ``report.html``."""
        return doc.write(self.report_md, REPORT_IMAGES)

    # ---- helpers ---------------------------------------------------------------------------------
    def _kept_message(self) -> str:
        last = self.path / LAST
        if self.last_saved_epoch is not None:
            held = f"{LAST} still holds epoch {self.last_saved_epoch}"
        elif last.is_file():
            held = f"{LAST} is kept as it was"
        else:
            return "no checkpoint was written yet; free space and start the run again"
        return f"{held}; free space, then continue with: archlab train --resume {self.path}"

    def _write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.path / name, text, self._kept_message())

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        self._write_text(name, json.dumps(data, indent=2) + "\n")

    def _read_json(self, name: str) -> dict[str, Any]:
        path = self.path / name
        if not path.is_file():
            return {}
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}


# Entries of a checkpoint holding tensors of the model or the training state.
WEIGHT_KEYS = ("model", "optimizer", "scheduler", "scaler", "ema", "rng")


def save_checkpoint(payload: dict[str, Any], path: str | Path, kept: str = "") -> Path:
    """``torch.save`` to ``path`` atomically: a kill never leaves a half-written file."""
    path = Path(path)
    atomic_write(path, lambda tmp: torch.save(payload, tmp), kept)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by archlab; one-line errors when missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {str(path)!r} not found; pass a run directory holding last.pt or best.pt"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(
            f"checkpoint {str(path)!r} is unreadable ({type(exc).__name__}); it may be truncated"
        ) from None
    if not isinstance(payload, dict) or "model" not in payload:
        raise ValueError(f"checkpoint {str(path)!r} is not an archlab checkpoint (no 'model' entry)")
    return payload


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
