"""Optimisers and learning-rate schedules from config.

Schedules that change every step (onecycle, cosine with warm-up) are stepped
per optimiser step; step, multistep and plateau are stepped per epoch, as their
definitions say. :func:`build_scheduler` returns the scheduler and its interval.
"""

from __future__ import annotations

import math

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
        max_lr = [g["lr"] for g in optimizer.param_groups]
        sched = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=max_lr,
            total_steps=total,
            pct_start=cfg.pct_start,
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
