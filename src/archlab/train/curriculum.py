"""Curriculum training over class subsets (seed 002: [0,7] -> [0,1,6,7] -> [0,1,2,5,6,7] -> all).

Each stage trains for its own number of epochs on the training samples that carry at
least one of its classes; evaluation always covers every class, and every epoch
record names its stage, so metrics can be read per stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from archlab.train.losses import class_index


@dataclass
class Stage:
    index: int
    name: str
    classes: list[int]  # empty: every class
    first_epoch: int
    last_epoch: int


def plan(stages_cfg, classes: list[str], default_epochs: int) -> list[Stage]:
    """Resolve the config's stages to class indices and epoch ranges (1-based, inclusive)."""
    if not stages_cfg:
        return [Stage(0, "all", [], 1, default_epochs)]
    stages, epoch = [], 1
    for i, s in enumerate(stages_cfg):
        if s.epochs < 1:
            raise ValueError(f"curriculum[{i}].epochs must be at least 1, got {s.epochs}")
        idx = sorted({class_index(c, classes, f"curriculum[{i}].classes") for c in s.classes})
        name = s.name or ("all" if not idx else "classes " + ",".join(map(str, idx)))
        stages.append(Stage(i, name, idx, epoch, epoch + s.epochs - 1))
        epoch += s.epochs
    return stages


def stage_of(stages: list[Stage], epoch: int) -> Stage:
    return next(s for s in stages if s.first_epoch <= epoch <= s.last_epoch)


def stage_index(y: torch.Tensor, stage: Stage) -> torch.Tensor | None:
    """Indices of the samples that carry one of the stage's classes (``None``: every sample)."""
    if not stage.classes:
        return None
    wanted = torch.tensor(stage.classes)
    keep = torch.isin(y, wanted) if y.ndim == 1 else (y[:, wanted] > 0.5).any(1)
    index = torch.nonzero(keep).flatten()
    if index.numel() == 0:
        raise ValueError(f"curriculum stage {stage.index} ({stage.name}) has no training samples")
    return index
