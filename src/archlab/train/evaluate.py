"""One evaluation pass: loss and metrics of a model on every sample of a loader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from archlab.data.augment import BatchTransform
from archlab.train.metrics import classification_metrics, multilabel_metrics


@torch.no_grad()
def predict_all(
    model: nn.Module,
    loader,
    transform: BatchTransform,
    *,
    amp: torch.dtype | None = None,
    channels_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (float32) and targets of every sample of ``loader``, in loader order."""
    was_training = model.training
    model.eval()
    logits_all, targets_all = [], []
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
        for xb, yb in loader:
            x, _ = transform(xb, yb)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            logits_all.append(model(x).float())
            targets_all.append(yb)
    model.train(was_training)
    return torch.cat(logits_all), torch.cat(targets_all)


def score(
    logits: torch.Tensor,
    targets: torch.Tensor,
    task: str,
    num_classes: int,
    loss_fn: Callable,
    *,
    topk: int = 5,
    thresholds: torch.Tensor | float = 0.5,
) -> dict[str, Any]:
    """The loss (as trained) and the task's metrics for a full set of logits."""
    if task == "multi_label":
        targets = targets.float()
        out = {"loss": loss_fn(logits, targets.to(logits.device)).item()}
        out.update(multilabel_metrics(torch.sigmoid(logits), targets, thresholds))
        return out
    out = {"loss": loss_fn(logits, targets.to(logits.device)).item()}
    out.update(classification_metrics(logits, targets, num_classes, topk=topk))
    return out


def evaluate(
    model: nn.Module,
    loader,
    transform: BatchTransform,
    num_classes: int,
    *,
    task: str = "single_label",
    loss_fn: Callable | None = None,
    amp: torch.dtype | None = None,
    channels_last: bool = False,
    topk: int = 5,
    thresholds: torch.Tensor | float = 0.5,
) -> dict[str, Any]:
    """Loss and metrics of ``model`` on every sample of ``loader``."""
    import torch.nn.functional as F

    if loss_fn is None:
        loss_fn = F.binary_cross_entropy_with_logits if task == "multi_label" else F.cross_entropy
    logits, targets = predict_all(model, loader, transform, amp=amp, channels_last=channels_last)
    return score(logits, targets, task, num_classes, loss_fn, topk=topk, thresholds=thresholds)


def evaluate_run(run_dir, split: str = "test", which: str = "best", device: str = "cpu") -> dict[str, Any]:
    """Metrics of a run's ``best.pt`` on one split of its own dataset, read afresh (e.g. test, once).

    The data is loaded with the run's config and fed through the checkpoint's input specification,
    exactly as training evaluated it.
    """
    from archlab.config import build_config
    from archlab.data.datasets import load_dataset
    from archlab.data.loader import make_loader
    from archlab.rundir import restore

    restored = restore(run_dir, which, device)
    cfg = build_config(restored.config)
    data = load_dataset(cfg.data)
    chosen = {"train": data.train, "val": data.val, "test": data.test}.get(split)
    if chosen is None:
        raise ValueError(f"run {run_dir} has no {split!r} split; choose train, val or test")
    spec = restored.spec
    loader = make_loader(chosen, cfg.data.eval_batch_size, shuffle=False, device=torch.device(device))
    transform = BatchTransform.of_spec(spec)
    thresholds = torch.tensor(restored.thresholds) if restored.thresholds is not None else 0.5
    return evaluate(
        restored.model,
        loader,
        transform,
        spec.num_classes,
        task=spec.task,
        topk=cfg.train.topk,
        thresholds=thresholds,
    )
