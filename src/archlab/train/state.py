"""The training state that a checkpoint carries, and resuming from it.

``best.pt`` holds the evaluated weights with the run's input specification, so it can
be used alone; ``last.pt`` adds everything needed to continue: optimiser, schedule,
scaler, EMA, every random generator, the history and the monitor's state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from archlab.config import Config
from archlab.train.build import Parts
from archlab.train.compiled import set_lr_tensors


@dataclass
class TrainState:
    """What changes from epoch to epoch: the history and the monitor's best so far."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0

    @property
    def start_epoch(self) -> int:
        return self.history[-1]["epoch"] + 1 if self.history else 1

    @property
    def wall_before(self) -> float:
        return self.history[-1]["wall_time_s"] if self.history else 0.0

    def observe(self, value: float, epoch: int, mode: str) -> bool:
        """Record the monitor's ``value`` at ``epoch``; whether it improved on the best so far."""
        improved = self.best_value is None or (
            value > self.best_value if mode == "max" else value < self.best_value
        )
        if improved:
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return improved


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def best_payload(parts: Parts, record: dict[str, Any], thresholds: torch.Tensor | float) -> dict[str, Any]:
    """``best.pt``: the evaluated weights, the config, the input specification, the epoch's metrics."""
    from archlab import __version__

    multi = parts.task == "multi_label"
    return {
        "config": parts.cfg.to_dict(),
        "model_name": parts.cfg.model.name,
        "input": parts.spec.to_dict(),
        "params": parts.params,
        "archlab_version": __version__,
        "model": parts.eval_model.state_dict(),
        "epoch": record["epoch"],
        "metrics": {k: record[k] for k in record if k in ("train", "val", "test")},
        "thresholds": _threshold_list(thresholds, parts.data.num_classes) if multi else None,
    }


def last_payload(best: dict[str, Any], parts: Parts, state: TrainState) -> dict[str, Any]:
    """``last.pt``: ``best``'s entries with the raw weights and everything needed to resume."""
    return {
        **best,
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
        "scaler": parts.scaler.state_dict(),
        "ema": parts.ema.state_dict() if parts.ema is not None else None,
        "rng": rng_state(),
        "history": state.history,
        "best_value": state.best_value,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
    }


def resume(parts: Parts, ckpt: dict[str, Any]) -> TrainState:
    """Load ``last.pt``'s states into ``parts``; the history and monitor state to continue from."""
    check_resume_changes(ckpt["config"], parts.cfg)
    parts.model.load_state_dict(ckpt["model"])
    parts.optimizer.load_state_dict(ckpt["optimizer"])
    set_lr_tensors(parts.optimizer, parts.cfg.train.compile)  # the saved rates may be of either kind
    if parts.scheduler is not None and ckpt.get("scheduler") is not None:
        parts.scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt.get("scaler") is not None:
        parts.scaler.load_state_dict(ckpt["scaler"])
    if parts.ema is not None and ckpt.get("ema") is not None:
        parts.ema.load_state_dict(ckpt["ema"])
    set_rng_state(ckpt["rng"])
    return TrainState(list(ckpt["history"]), ckpt["best_value"], ckpt["best_epoch"], ckpt["bad_epochs"])


def check_resume_changes(saved: dict[str, Any], cfg: Config) -> None:
    """Refuse ``--set`` overrides on resume that the restored optimiser or schedule would silently undo.

    Per-epoch schedules (none, step, multistep, plateau) may run for more epochs; the
    optimiser's settings and per-step schedules (onecycle, cosine) are fixed by the run.
    """
    new, default = cfg.to_dict(), Config().to_dict()  # keys added since the run started take their default
    for section in ("model", "optim", "sched"):
        for key, value in new[section].items():
            old = saved[section].get(key, default[section].get(key))
            if old != value:
                raise ValueError(
                    f"{section}.{key} changed from {old!r} to {value!r}, but a resumed run keeps "
                    "its optimiser and schedule; start a new run (optionally with model.pretrained=RUN_DIR/last.pt)"
                )
    old_epochs, new_epochs = saved["train"]["epochs"], new["train"]["epochs"]
    if old_epochs != new_epochs and new["sched"]["name"] in ("onecycle", "cosine") and not new["curriculum"]:
        raise ValueError(
            f"train.epochs changed from {old_epochs} to {new_epochs}, but the {new['sched']['name']} schedule was "
            "planned over the original epochs; resume with the same train.epochs, or start a new run"
        )
    if saved.get("curriculum") != new["curriculum"]:
        raise ValueError("curriculum changed on resume; a resumed run keeps its stages — start a new run")


def _threshold_list(thresholds: torch.Tensor | float, k: int) -> list[float]:
    return thresholds.tolist() if isinstance(thresholds, torch.Tensor) else [float(thresholds)] * k
