"""Rebuild a trained model from a run directory or a checkpoint file, ready for inference.

One place that turns what :mod:`archlab.train.engine` saved (weights, config, class
names, input size, bands, normalisation, task) back into an eval-mode model plus
the metadata needed to feed it: ``archlab predict``, ``archlab export``, reports and
explanations all go through :func:`load_run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archlab.train.checkpoint import load_checkpoint

TASKS = ("single_label", "multi_label")
# Prefixes a state_dict gains when saved from a wrapped model (DDP, torch.compile).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass
class Restored:
    """A model in eval mode with its weights loaded, and what is needed to feed and read it.

    The model's input is ``((x / scale) - mean) / std`` per channel, with ``x`` in the
    dataset's stored units (``normalize=False``: only ``x / scale``).
    """

    model: nn.Module
    model_name: str
    classes: list[str]
    input_size: tuple[int, int, int]
    bands: list[str]
    mean: list[float]
    std: list[float]
    scale: float
    normalize: bool
    task: str
    thresholds: list[float] | None
    config: dict[str, Any]
    checkpoint: Path
    epoch: int | None = None
    params: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Stored units (N×C×H×W, any dtype) -> the float32 model input."""
        x = x.to(torch.float32) / self.scale
        if self.normalize and self.mean:
            mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
            std = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
            x = (x - mean) / std
        return x

    def metadata(self) -> dict[str, Any]:
        """Everything but the model, as plain JSON-able values (the export sidecar's core)."""
        return {
            "model_name": self.model_name,
            "model_kwargs": dict((self.config.get("model") or {}).get("kwargs") or {}),
            "classes": list(self.classes),
            "input_size": list(self.input_size),
            "bands": list(self.bands),
            "mean": list(self.mean),
            "std": list(self.std),
            "scale": self.scale,
            "normalize": self.normalize,
            "task": self.task,
            "thresholds": None if self.thresholds is None else list(self.thresholds),
            "epoch": self.epoch,
            "params": self.params,
        }


def checkpoint_path(run_dir_or_ckpt: str | Path, which: str = "best") -> Path:
    """The checkpoint file a run directory (``best.pt`` or ``last.pt``) or a ``.pt`` path names."""
    from archlab.train import rundir

    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    path = Path(run_dir_or_ckpt)
    if path.is_dir():
        ckpt = path / (rundir.BEST if which == "best" else rundir.LAST)
        if not ckpt.is_file():
            other = path / (rundir.LAST if which == "best" else rundir.BEST)
            hint = f"; {other.name} is there: pass {other}" if other.is_file() else ""
            raise FileNotFoundError(
                f"{str(path)!r} holds no {ckpt.name}; pass a run directory written by archlab train{hint}"
            )
        return ckpt
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} not found; pass a run directory or a .pt checkpoint")
    return path


def strip_wrapper_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) from every key that has them all."""
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_run(
    run_dir_or_ckpt: str | Path, which: str = "best", device: str | torch.device = "cpu"
) -> Restored:
    """Rebuild the model of a run directory (``best.pt``/``last.pt``) or a checkpoint file, in eval mode."""
    from archlab.models import create_model

    path = checkpoint_path(run_dir_or_ckpt, which)
    ckpt = load_checkpoint(path)
    config = dict(ckpt.get("config") or {})
    model_cfg = dict(config.get("model") or {})
    name = ckpt.get("model_name") or model_cfg.get("name")
    missing = [k for k in ("classes", "input_size") if k not in ckpt]
    if not name or missing:
        raise ValueError(
            f"checkpoint {str(path)!r} lacks {', '.join(missing) or 'model_name'}; "
            "it was not written by archlab train (save model_name, classes and input_size with the weights)"
        )
    classes = [str(c) for c in ckpt["classes"]]
    c, h, w = (int(v) for v in ckpt["input_size"])
    task = ckpt.get("task", "single_label")
    if task not in TASKS:
        raise ValueError(f"checkpoint {str(path)!r} has task {task!r}; expected one of {', '.join(TASKS)}")
    thresholds = ckpt.get("thresholds")
    if task == "multi_label":
        thresholds = [0.5] * len(classes) if thresholds is None else [float(t) for t in thresholds]
        if len(thresholds) != len(classes):
            raise ValueError(
                f"checkpoint {str(path)!r} has {len(thresholds)} thresholds for {len(classes)} classes; "
                "save one threshold per class"
            )
    else:
        thresholds = None
    bands = [str(b) for b in ckpt.get("bands") or []] or [f"band{i + 1}" for i in range(c)]
    mean = [float(v) for v in ckpt.get("mean") or []]
    std = [float(v) for v in ckpt.get("std") or []]
    if mean and (len(mean) != c or len(std) != c):
        raise ValueError(
            f"checkpoint {str(path)!r} has {len(mean)} means and {len(std)} stds for {c} bands; "
            "save one per band"
        )
    normalize = bool((config.get("data") or {}).get("normalize", True)) and bool(mean)

    model = create_model(
        name, num_classes=len(classes), in_chans=c, pretrained=False, **dict(model_cfg.get("kwargs") or {})
    )
    state = strip_wrapper_prefixes(dict(ckpt["model"]))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(
            f"the weights in {str(path)!r} do not fit model {name!r} with {len(classes)} classes and {c} bands "
            f"({first}); was the model's code changed since training?"
        ) from None
    model.to(device).eval()
    return Restored(
        model=model,
        model_name=str(name),
        classes=classes,
        input_size=(c, h, w),
        bands=bands,
        mean=mean,
        std=std,
        scale=float(ckpt.get("scale", 255.0)),
        normalize=normalize,
        task=task,
        thresholds=thresholds,
        config=config,
        checkpoint=path,
        epoch=ckpt.get("epoch"),
        params=ckpt.get("params"),
        metrics=dict(ckpt.get("metrics") or {}),
    )
