"""Losses for single- and multi-label classification.

``focal_loss`` follows Lin et al. 2017 ("Focal Loss for Dense Object Detection"):
``FL = -alpha_t (1 - p_t)^gamma log p_t``. The multi-label form with ``pos_weight``
is seed 000's ``CombinedFocalLossWithPosWeight`` (spec §5.5): the per-element BCE with
``pos_weight`` times ``alpha_t (1 - p_t)^gamma``, averaged over all N×K elements.
With ``gamma = 0`` and no alpha, both forms reduce to plain (B)CE.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def focal_loss_multilabel(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    alpha: float | torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over N×K of ``alpha_t (1 - p_t)^gamma BCE(pos_weight)``; ``alpha`` weighs positives (1 - alpha negatives)."""
    bce = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    loss = (1 - p_t).pow(gamma) * bce if gamma != 0 else bce
    if alpha is not None:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return loss.mean()


def focal_loss_single(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    alpha: float | torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean over N of ``-alpha_y (1 - p_y)^gamma log p_y`` (``alpha`` scalar or per class)."""
    logp = F.log_softmax(logits, dim=1)
    logp_t = logp.gather(1, target[:, None]).squeeze(1)
    ce = (
        F.nll_loss(logp, target, reduction="none")
        if label_smoothing == 0
        else F.cross_entropy(logits, target, reduction="none", label_smoothing=label_smoothing)
    )
    loss = (1 - logp_t.exp()).pow(gamma) * ce if gamma != 0 else ce
    if alpha is not None:
        a = alpha[target] if isinstance(alpha, torch.Tensor) and alpha.ndim == 1 else alpha
        loss = a * loss
    return loss.mean()


def log_inverse_pos_weight(counts: list[int]) -> list[float]:
    """Seed 000's pos_weight: ``w_c = ln(1 + T / n_c)`` with ``T = sum of n_c`` (spec §5.5)."""
    total = float(sum(counts))
    return [math.log(1.0 + total / max(n, 1)) for n in counts]


def class_index(key: str | int, classes: list[str], what: str) -> int:
    """A class given by index (``2``, ``"2"``) or by name, checked against ``classes``."""
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        k = int(key)
        if not 0 <= k < len(classes):
            raise ValueError(f"{what}: class index {k} is out of range 0..{len(classes) - 1}")
        return k
    if key not in classes:
        from archlab._registry import unknown_name_message

        raise ValueError(f"{what}: " + unknown_name_message("class", str(key), classes))
    return classes.index(key)


def build_loss(
    cfg, task: str, classes: list[str], counts: list[int], device: torch.device
) -> tuple[Callable, dict]:
    """The loss function of ``cfg.train`` for ``task``, and a dict describing it (for the run log).

    ``counts`` are the training split's per-class sample (single-label) or label (multi-label) counts.
    """
    t = cfg.train
    k = len(classes)
    name = t.loss if t.loss != "auto" else ("bce" if task == "multi_label" else "ce")
    if task == "multi_label" and name == "ce":
        raise ValueError("train.loss=ce is for single-label data; use bce or focal for multi-label targets")
    if task == "single_label" and name == "bce":
        raise ValueError("train.loss=bce is for multi-label data; use ce or focal for single-label targets")

    def per_class(values, what: str) -> torch.Tensor:
        if len(values) != k:
            raise ValueError(f"{what} has {len(values)} entries but there are {k} classes")
        return torch.tensor(values, dtype=torch.float32, device=device)

    weight = per_class(t.class_weights, "train.class_weights") if t.class_weights is not None else None
    alpha = t.focal_alpha
    if isinstance(alpha, list):
        alpha = per_class(alpha, "train.focal_alpha")
    pos_weight = None
    if t.pos_weight is not None:
        if task != "multi_label":
            raise ValueError(
                "train.pos_weight applies to multi-label targets; use train.class_weights for single-label"
            )
        if isinstance(t.pos_weight, str):
            if t.pos_weight != "log_inverse":
                raise ValueError(
                    f"train.pos_weight {t.pos_weight!r} is not known; use log_inverse or a list of {k}"
                )
            values = log_inverse_pos_weight(counts)
        else:
            values = list(t.pos_weight)
        for key, factor in t.pos_weight_boost.items():
            values[class_index(key, classes, "train.pos_weight_boost")] *= float(factor)
        pos_weight = per_class(values, "train.pos_weight")
    elif t.pos_weight_boost:
        raise ValueError("train.pos_weight_boost needs train.pos_weight (log_inverse or a list)")
    if weight is not None and task == "multi_label":
        pos_weight = weight if pos_weight is None else pos_weight * weight
    gamma, smoothing = t.focal_gamma, t.label_smoothing

    if name == "focal" and task == "multi_label":

        def loss(logits, target):
            return focal_loss_multilabel(logits, target, gamma, alpha, pos_weight)
    elif name == "focal":

        def loss(logits, target):
            return focal_loss_single(logits, target, gamma, alpha if weight is None else weight, smoothing)
    elif name == "bce":

        def loss(logits, target):
            return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
    else:

        def loss(logits, target):
            return F.cross_entropy(logits, target, weight=weight, label_smoothing=smoothing)

    info = {
        "loss": name,
        "gamma": gamma if name == "focal" else None,
        "alpha": (alpha.tolist() if isinstance(alpha, torch.Tensor) else alpha) if name == "focal" else None,
        "pos_weight": pos_weight.tolist() if pos_weight is not None else None,
    }
    return loss, info
