"""Rebuild a trained model from a run directory or a checkpoint file, ready for inference.

``archlab predict``, ``export``, ``explain``, ``bench`` and the reports all go through
:func:`restore`: it reads the checkpoint once, rebuilds the model by name, loads the
weights and returns them with the run's :class:`~archlab.data.inputspec.InputSpec`.
Checkpoints written before the spec had its own entry (flat ``classes``, ``bands``,
``mean`` ... keys) load the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archlab.data.inputspec import InputSpec
from archlab.rundir.layout import CHECKPOINTS, RunDir, load_checkpoint

# Prefixes a state_dict gains when saved from a wrapped model (DDP, torch.compile).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass
class Restored:
    """A model in eval mode with its weights loaded, its input specification and thresholds."""

    model: nn.Module
    model_name: str
    spec: InputSpec
    thresholds: list[float] | None
    config: dict[str, Any]
    checkpoint: Path
    epoch: int | None = None
    params: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    # The spec's fields, read through (the spec is their one home).
    @property
    def classes(self) -> list[str]:
        return list(self.spec.classes)

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def input_size(self) -> tuple[int, int, int]:
        return self.spec.input_size

    @property
    def bands(self) -> list[str]:
        return self.spec.band_names

    @property
    def mean(self) -> list[float]:
        return list(self.spec.mean)

    @property
    def std(self) -> list[float]:
        return list(self.spec.std)

    @property
    def scale(self) -> float:
        return self.spec.scale

    @property
    def normalize(self) -> bool:
        return self.spec.normalized

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return dict((self.config.get("model") or {}).get("kwargs") or {})

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Stored units -> the float32 model input (:meth:`InputSpec.preprocess`)."""
        return self.spec.preprocess(x)

    def metadata(self) -> dict[str, Any]:
        """Everything but the model, as plain JSON-able values (the export sidecar's core)."""
        spec = self.spec.to_dict()
        spec["bands"] = self.bands
        spec["normalize"] = self.normalize
        return {
            "model_name": self.model_name,
            "model_kwargs": self.model_kwargs,
            **spec,
            "thresholds": None if self.thresholds is None else list(self.thresholds),
            "epoch": self.epoch,
            "params": self.params,
        }


def checkpoint_path(run_dir_or_ckpt: str | Path, which: str = "best") -> Path:
    """The checkpoint file a run directory (``best.pt`` or ``last.pt``) or a ``.pt`` path names."""
    if which not in CHECKPOINTS:
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    path = Path(run_dir_or_ckpt)
    if path.is_dir():
        rd = RunDir(path)
        ckpt = rd.checkpoint_path(which)
        if not ckpt.is_file():
            other = rd.checkpoint_path("last" if which == "best" else "best")
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


def restore(run_dir_or_ckpt: str | Path, which: str = "best", device: str | torch.device = "cpu") -> Restored:
    """Rebuild the model of a run directory (``best.pt``/``last.pt``) or a checkpoint file, in eval mode."""
    from archlab.models import create_model

    path = checkpoint_path(run_dir_or_ckpt, which)
    ckpt = load_checkpoint(path)
    config = dict(ckpt.get("config") or {})
    model_cfg = dict(config.get("model") or {})
    name = ckpt.get("model_name") or model_cfg.get("name")
    if not name:
        raise ValueError(
            f"checkpoint {str(path)!r} lacks model_name; it was not written by archlab train "
            "(save model_name and the input specification with the weights)"
        )
    try:
        spec = InputSpec.from_checkpoint(ckpt)
    except ValueError as exc:
        raise ValueError(f"checkpoint {str(path)!r}: {exc}") from None
    thresholds = _thresholds(ckpt.get("thresholds"), spec, path)
    model = create_model(
        name,
        num_classes=spec.num_classes,
        in_chans=spec.channels,
        pretrained=False,
        **dict(model_cfg.get("kwargs") or {}),
    )
    state = strip_wrapper_prefixes(dict(ckpt["model"]))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(
            f"the weights in {str(path)!r} do not fit model {name!r} with {spec.num_classes} classes and "
            f"{spec.channels} bands ({first}); was the model's code changed since training?"
        ) from None
    model.to(device).eval()
    return Restored(
        model=model,
        model_name=str(name),
        spec=spec,
        thresholds=thresholds,
        config=config,
        checkpoint=path,
        epoch=ckpt.get("epoch"),
        params=ckpt.get("params"),
        metrics=dict(ckpt.get("metrics") or {}),
    )


def _thresholds(saved: Any, spec: InputSpec, path: Path) -> list[float] | None:
    if spec.task != "multi_label":
        return None
    thresholds = [0.5] * spec.num_classes if saved is None else [float(t) for t in saved]
    if len(thresholds) != spec.num_classes:
        raise ValueError(
            f"checkpoint {str(path)!r} has {len(thresholds)} thresholds for {spec.num_classes} classes; "
            "save one threshold per class"
        )
    return thresholds
