"""OneCycle on runs too short for its warm-up: clamped or constant, never torch's ZeroDivisionError."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from archlab.config import OptimConfig, SchedConfig
from archlab.train.optim import build_optimizer, build_scheduler

LR = 0.05
START, END = LR / 25.0, LR / 25.0 / 1e4  # the defaults div_factor=25, final_div_factor=1e4


def lrs(sched_cfg: SchedConfig, epochs: int, steps: int) -> list[float]:
    """The learning rate of every optimiser step, stepping the schedule after each step as the engine does."""
    opt = build_optimizer(nn.Linear(3, 2), OptimConfig(lr=LR))
    sched, interval = build_scheduler(opt, sched_cfg, epochs, steps)
    assert interval == "step"
    out = []
    for _ in range(epochs * steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_torch_alone_divides_by_zero_at_these_sizes() -> None:
    """The failure being fixed: 4 steps at pct_start 0.25 end torch's warm-up at step 0."""
    opt = torch.optim.SGD(nn.Linear(3, 2).parameters(), lr=LR)
    with pytest.raises(ZeroDivisionError):
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=4, pct_start=0.25)


def test_the_121_image_run_rises_one_step_then_falls() -> None:
    # 121 images, test_split 0.2 -> 96 train; batch 64 -> 2 steps per epoch; 2 epochs -> 4 steps.
    with pytest.warns(UserWarning, match=r"pct_start=0.25 of 4 optimiser steps is too short.*using 0.5"):
        seq = lrs(SchedConfig(name="onecycle", pct_start=0.25), epochs=2, steps=2)
    assert len(seq) == 4
    assert seq == pytest.approx([START, LR, (LR + END) / 2, END], rel=1e-9)


@pytest.mark.parametrize("total", [3, 5, 7])
def test_short_runs_reach_the_peak_at_step_one(total: int) -> None:
    """pct_start * total below 2 (1.25 at 5 steps) once ended the rise between steps 0 and 1: no peak."""
    with pytest.warns(UserWarning, match="too short"):
        seq = lrs(SchedConfig(name="onecycle", pct_start=0.25), epochs=1, steps=total)
    assert seq[0] == pytest.approx(START) and seq[1] == pytest.approx(LR, rel=1e-12)
    assert max(seq) == seq[1] and seq[-1] == pytest.approx(END, rel=1e-6)


def test_pct_start_one_still_falls_on_the_last_step() -> None:
    """pct_start=1 leaves torch nothing to fall over: a ZeroDivisionError after the last step."""
    with pytest.warns(UserWarning, match="too long a onecycle warm-up.*rises over 8 step"):
        seq = lrs(SchedConfig(name="onecycle", pct_start=1.0), epochs=2, steps=5)
    assert seq.index(max(seq)) == 8 and max(seq) == pytest.approx(LR, rel=1e-12)
    assert seq[-1] == pytest.approx(END, rel=1e-6)


@pytest.mark.parametrize("epochs,steps", [(1, 1), (2, 1), (1, 2)])
def test_one_or_two_steps_train_at_the_constant_lr(epochs: int, steps: int) -> None:
    with pytest.warns(UserWarning, match=f"at least 3 optimiser steps .* has {epochs * steps}; .*constant"):
        seq = lrs(SchedConfig(name="onecycle"), epochs, steps)
    assert seq == [LR] * (epochs * steps)


def test_long_runs_keep_pct_start(recwarn) -> None:
    seq = lrs(SchedConfig(name="onecycle", pct_start=0.25), epochs=4, steps=10)
    assert seq.index(max(seq)) == 9  # unchanged: the rise ends at 0.25 * 40 - 1
    assert not [w for w in recwarn if "pct_start" in str(w.message)]


def test_pct_start_outside_zero_one_is_refused() -> None:
    opt = build_optimizer(nn.Linear(3, 2), OptimConfig(lr=LR))
    with pytest.raises(ValueError, match=r"sched.pct_start .* in \[0, 1\]; got 1.5"):
        build_scheduler(opt, SchedConfig(name="onecycle", pct_start=1.5), 2, 10)


@pytest.mark.slow
def test_train_on_121_images_for_two_epochs(tmp_path) -> None:
    """The reported run end to end: an imagefolder of 121 images, 2 classes, 2 epochs, default schedule."""
    import archlab

    rng = np.random.default_rng(0)
    for i in range(121):
        path = tmp_path / "data" / ("a" if i % 2 == 0 else "b") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).save(path)
    overrides = [
        "data.name=imagefolder",
        f"data.root={tmp_path / 'data'}",
        "train.epochs=2",
        f"run.out_dir={tmp_path / 'runs'}",
        "run.progress=false",
        "run.report=false",
        "run.summary=false",
    ]
    lines: list[str] = []
    result = archlab.train(None, overrides=overrides, echo=lines.append)
    assert any(line.startswith("note: ") and "pct_start=0.25 of 4 optimiser steps" in line for line in lines)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert [h["train"]["samples"] for h in result.history] == [96, 96]  # 121 - 25 held out: 2 batches of 64
