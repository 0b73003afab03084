"""Classification metrics of one evaluation pass, computed with torchmetrics.

All figures are fractions in [0, 1] (accuracies are printed as percentages by the
loop). Per-class lists are in the model's output order.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)


def classification_metrics(
    logits: torch.Tensor, target: torch.Tensor, num_classes: int, topk: int = 5
) -> dict[str, Any]:
    """Accuracy, top-k, per-class and macro/micro precision/recall/F1, support, confusion matrix."""
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


SCALARS = ("loss", "acc", "macro_precision", "macro_recall", "macro_f1", "micro_f1")


def scalar_items(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar entries of a metrics dict (for CSV columns and progress lines)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
