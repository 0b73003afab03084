"""Classification metrics of one evaluation pass, computed with torchmetrics.

All figures are fractions in [0, 1] (accuracies are printed as percentages by the
loop). Per-class lists are in the model's output order.
"""

from __future__ import annotations

from typing import Any

import torch


def classification_metrics(
    logits: torch.Tensor, target: torch.Tensor, num_classes: int, topk: int = 5
) -> dict[str, Any]:
    """Accuracy, top-k, per-class and macro/micro precision/recall/F1, support, confusion matrix."""
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_confusion_matrix,
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    logits, target = logits.float().cpu(), target.cpu()
    kw = dict(num_classes=num_classes, validate_args=False)
    out: dict[str, Any] = {
        "acc": multiclass_accuracy(logits, target, average="micro", **kw).item(),
    }
    k = min(topk, num_classes)
    if k > 1:
        out[f"top{k}"] = multiclass_accuracy(logits, target, average="micro", top_k=k, **kw).item()
    for name, fn in (
        ("precision", multiclass_precision),
        ("recall", multiclass_recall),
        ("f1", multiclass_f1_score),
    ):
        out[f"macro_{name}"] = fn(logits, target, average="macro", **kw).item()
        out[f"micro_{name}"] = fn(logits, target, average="micro", **kw).item()
        out[f"per_class_{name}"] = fn(logits, target, average="none", **kw).tolist()
    out["support"] = torch.bincount(target, minlength=num_classes).tolist()
    out["confusion"] = multiclass_confusion_matrix(logits, target, **kw).tolist()
    return out


def scalar_items(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar entries of a metrics dict (for CSV columns and progress lines)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def multilabel_metrics(
    scores: torch.Tensor, target: torch.Tensor, thresholds: torch.Tensor | float = 0.5
) -> dict[str, Any]:
    """Multi-label metrics of sigmoid ``scores`` (N×K) against multi-hot ``target`` at ``thresholds``.

    Precision/recall/F1 micro, macro and weighted (by support); mAP macro and micro
    (threshold-free average precision); per-class lists with support; Hamming loss
    (fraction of wrong label bits) and subset accuracy (rows entirely right).
    """
    from torchmetrics.functional.classification import (
        multilabel_average_precision,
        multilabel_f1_score,
        multilabel_precision,
        multilabel_recall,
    )

    scores, target = scores.float().cpu(), (target.cpu() > 0.5).long()
    k = scores.shape[1]
    thr = torch.as_tensor(thresholds, dtype=torch.float32).expand(k)
    pred = (scores >= thr).long()
    kw = dict(num_labels=k, validate_args=False)
    out: dict[str, Any] = {}
    for name, fn in (
        ("precision", multilabel_precision),
        ("recall", multilabel_recall),
        ("f1", multilabel_f1_score),
    ):
        for avg in ("micro", "macro", "weighted"):
            out[f"{avg}_{name}"] = fn(pred, target, average=avg, **kw).item()
        out[f"per_class_{name}"] = fn(pred, target, average="none", **kw).tolist()
    out["map_macro"] = multilabel_average_precision(scores, target, average="macro", **kw).item()
    out["map_micro"] = multilabel_average_precision(scores, target, average="micro", **kw).item()
    out["per_class_ap"] = multilabel_average_precision(scores, target, average="none", **kw).tolist()
    out["hamming_loss"] = (pred != target).float().mean().item()
    out["subset_acc"] = (pred == target).all(1).float().mean().item()
    out["support"] = target.sum(0).tolist()
    out["thresholds"] = thr.tolist()
    return out


def tune_thresholds(
    scores: torch.Tensor, target: torch.Tensor, grid: torch.Tensor | None = None
) -> torch.Tensor:
    """Per class, the threshold on the grid (default 0.05..0.95) that maximises that class's F1.

    Ties go to the threshold closest to 0.5; a class without positives keeps 0.5.
    """
    grid = torch.arange(0.05, 0.951, 0.05) if grid is None else grid
    scores, target = scores.float().cpu(), (target.cpu() > 0.5)
    pred = scores[None, :, :] >= grid[:, None, None]  # G×N×K
    tp = (pred & target[None]).sum(1).double()
    fp = (pred & ~target[None]).sum(1).double()
    fn = (~pred & target[None]).sum(1).double()
    f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)  # G×K
    closeness = -(grid - 0.5).abs().double()[:, None] * 1e-9  # tie-break towards 0.5
    best = (f1 + closeness).argmax(0)
    out = grid[best]
    out[target.sum(0) == 0] = 0.5
    return out
