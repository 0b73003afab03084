"""Optimisers and learning-rate schedules from config.

Schedules that change every step (onecycle, cosine with warm-up) are stepped
per optimiser step; step, multistep and plateau are stepped per epoch, as their
definitions say. :func:`build_scheduler` returns the scheduler and its interval.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weights of rank ≥ 2 only; biases and norm parameters are not decayed."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    """SGD (optionally Nesterov), Adam or AdamW from an :class:`archlab.config.OptimConfig`."""
    groups = param_groups(model, cfg.weight_decay)
    if not any(g["params"] for g in groups):
        raise ValueError("the model has no trainable parameters; unfreeze some layers to train it")
    if cfg.name == "sgd":
        return torch.optim.SGD(
            groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0
        )
    betas = tuple(cfg.betas)
    if len(betas) != 2:
        raise ValueError(f"optim.betas expects two numbers such as [0.9, 0.999], got {list(betas)}")
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=betas)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg, epochs: int, steps_per_epoch: int, mode: str = "max"
):
    """Return ``(scheduler or None, "step" | "epoch" | "plateau")`` from an :class:`archlab.config.SchedConfig`.

    ``mode`` tells the plateau schedule whether the monitored metric should rise (``"max"``) or fall.
    """
    total = max(1, epochs * steps_per_epoch)
    if cfg.name == "none":
        return None, "epoch"
    if cfg.name == "onecycle":
        if not 0.0 <= cfg.pct_start <= 1.0:
            raise ValueError(
                f"sched.pct_start is the fraction of steps spent rising, in [0, 1]; got {cfg.pct_start}"
            )
        pct_start = _onecycle_pct_start(cfg.pct_start, total)
        if pct_start is None:
            warnings.warn(
                f"sched.name=onecycle needs at least 3 optimiser steps (one rising, one falling) but this run "
                f"has {total}; training at the constant optim.lr instead",
                stacklevel=2,
            )
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0), "step"
        if pct_start != cfg.pct_start:
            rise = round(pct_start * total) - 1  # torch's last rising step
            warnings.warn(
                f"sched.pct_start={cfg.pct_start} of {total} optimiser steps is too "
                f"{'short' if pct_start > cfg.pct_start else 'long'} a onecycle warm-up for this run; "
                f"using {pct_start:.4g} (the learning rate rises over {rise} step(s), then falls over "
                f"{total - 1 - rise})",
                stacklevel=2,
            )
        max_lr = [g["lr"] for g in optimizer.param_groups]
        sched = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=max_lr,
            total_steps=total,
            pct_start=pct_start,
            div_factor=cfg.div_factor,
            final_div_factor=cfg.final_div_factor,
            anneal_strategy="cos",
            cycle_momentum=False,
        )
        return sched, "step"
    if cfg.name == "cosine":
        warm = int(round(cfg.warmup_epochs * steps_per_epoch))
        base = optimizer.param_groups[0]["lr"]
        floor = cfg.min_lr / base if base > 0 else 0.0

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            t = min(1.0, (step - warm) / max(1, total - warm))
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "step"
    if cfg.name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma), "epoch"
    if cfg.name == "multistep":
        if not cfg.milestones:
            raise ValueError(
                "sched.name=multistep needs sched.milestones, e.g. --set 'sched.milestones=[10, 15]'"
            )
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=cfg.milestones, gamma=cfg.gamma
        ), "epoch"
    if cfg.name == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=cfg.gamma, patience=cfg.patience, min_lr=cfg.min_lr
        )
        return sched, "plateau"
    raise ValueError(f"unknown scheduler {cfg.name!r}")


def _onecycle_pct_start(pct_start: float, total: int) -> float | None:
    """``pct_start`` clamped so that torch's OneCycleLR rises for at least one step and falls for one.

    torch ends the rise at step ``pct_start * total - 1`` and divides by the length of
    each phase: a rise ending at step 0 (``pct_start * total == 1``, e.g. 4 steps at 0.25)
    raises ``ZeroDivisionError``, one ending between steps 0 and 1 never reaches the peak,
    and ``pct_start == 1`` leaves nothing to fall. The rise therefore ends at step 1 or
    later and at step ``total - 2`` or earlier. ``pct_start == 0`` (no warm-up) is kept.
    Returns ``None`` when ``total < 3`` leaves no room for a cycle.
    """
    if total < 3:
        return None
    lo, hi = 2, total - 1  # bounds of pct_start * total, torch's rise end + 1
    if pct_start == 0.0 or lo <= pct_start * total <= hi:
        return pct_start
    pct = min(max(pct_start * total, lo), hi) / total
    while pct * total < lo:  # the division may land one ulp short
        pct = math.nextafter(pct, 1.0)
    while pct * total > hi:
        pct = math.nextafter(pct, 0.0)
    return pct
