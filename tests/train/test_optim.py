"""Optimisers and learning-rate schedules built from config."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from archlab.config import OptimConfig, SchedConfig
from archlab.train.optim import build_optimizer, build_scheduler, param_groups


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 3))


def lrs(optim_cfg: OptimConfig, sched_cfg: SchedConfig, epochs: int, steps: int) -> list[float]:
    """The learning rate used at every optimiser step, stepping the schedule as the engine does."""
    opt = build_optimizer(small_net(), optim_cfg)
    sched, interval = build_scheduler(opt, sched_cfg, epochs, steps)
    out = []
    for _ in range(epochs):
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            if interval == "step":
                sched.step()
        if interval == "epoch" and sched is not None:
            sched.step()
    return out


def test_weight_decay_only_on_weights_of_rank_two_or_more() -> None:
    groups = param_groups(small_net(), 5e-4)
    decay, no_decay = groups
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert sorted(p.numel() for p in decay["params"]) == [12, 36]  # linear 3x4, conv 4x1x3x3
    assert sorted(p.numel() for p in no_decay["params"]) == [3, 4, 4, 4]  # biases and BN affine


def test_sgd_adam_adamw() -> None:
    sgd = build_optimizer(small_net(), OptimConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9
    plain = build_optimizer(small_net(), OptimConfig(name="sgd", momentum=0.0, nesterov=True))
    assert not plain.defaults["nesterov"]  # Nesterov needs momentum; dropped instead of torch's error
    adam = build_optimizer(small_net(), OptimConfig(name="adam", lr=1e-3, betas=[0.8, 0.99]))
    assert type(adam) is torch.optim.Adam and adam.defaults["betas"] == (0.8, 0.99)
    assert type(build_optimizer(small_net(), OptimConfig(name="adamw"))) is torch.optim.AdamW


def test_bad_betas_and_frozen_models() -> None:
    with pytest.raises(ValueError, match=r"optim.betas expects two numbers.*got \[0.9\]"):
        build_optimizer(small_net(), OptimConfig(name="adam", betas=[0.9]))
    frozen = small_net().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer(frozen, OptimConfig())


def test_onecycle_peaks_at_optim_lr() -> None:
    epochs, steps, lr = 4, 10, 0.05
    sched = SchedConfig(name="onecycle", pct_start=0.25, div_factor=25.0, final_div_factor=1e4)
    seq = lrs(OptimConfig(lr=lr), sched, epochs, steps)
    assert len(seq) == epochs * steps
    assert max(seq) == pytest.approx(lr, rel=1e-12)
    peak = seq.index(max(seq))
    assert peak == round(0.25 * epochs * steps) - 1  # torch's OneCycle: the rise ends at pct_start·total - 1
    assert seq[0] == pytest.approx(lr / 25.0)
    assert all(a <= b for a, b in zip(seq[:peak], seq[1 : peak + 1]))  # rises
    assert all(a >= b for a, b in zip(seq[peak:], seq[peak + 1 :]))  # then falls
    assert seq[-1] == pytest.approx(lr / 25.0 / 1e4, rel=1e-6)


def test_cosine_with_warmup() -> None:
    epochs, steps, lr = 3, 4, 0.1
    seq = lrs(OptimConfig(lr=lr), SchedConfig(name="cosine", warmup_epochs=1.0, min_lr=0.01), epochs, steps)
    assert seq[:4] == pytest.approx([lr * k / 4 for k in (1, 2, 3, 4)])  # linear warm-up over one epoch
    # Then a half cosine from lr to min_lr over the remaining 8 steps.
    expected = [0.01 + (lr - 0.01) * 0.5 * (1 + math.cos(math.pi * t / 8)) for t in range(8)]
    assert seq[4:] == pytest.approx(expected)


def test_step_and_multistep_are_per_epoch() -> None:
    seq = lrs(OptimConfig(lr=1.0), SchedConfig(name="step", step_size=2, gamma=0.5), 5, 3)
    assert seq[::3] == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])
    assert len(set(seq[0:3])) == 1  # constant within an epoch
    seq = lrs(OptimConfig(lr=1.0), SchedConfig(name="multistep", milestones=[1, 3], gamma=0.1), 4, 2)
    assert seq[::2] == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_none_and_plateau() -> None:
    opt = build_optimizer(small_net(), OptimConfig(lr=0.2))
    assert build_scheduler(opt, SchedConfig(name="none"), 3, 5) == (None, "epoch")
    sched, interval = build_scheduler(
        opt, SchedConfig(name="plateau", patience=1, gamma=0.5), 3, 5, mode="max"
    )
    assert interval == "plateau"
    for value in (0.5, 0.5, 0.5):  # no improvement for two epochs with patience 1: halve once
        sched.step(value)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_multistep_needs_milestones() -> None:
    opt = build_optimizer(small_net(), OptimConfig())
    with pytest.raises(ValueError, match="sched.name=multistep needs sched.milestones"):
        build_scheduler(opt, SchedConfig(name="multistep"), 3, 5)
