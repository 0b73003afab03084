"""Building a run: everything :func:`archlab.train.engine.train` needs before its first epoch.

:func:`build_run` reads the data, plans the curriculum, makes the loaders and batch
transforms, builds and checks the model, the loss, optimiser, schedule, gradient scaler
and EMA, in that order (the order fixes which random numbers each part draws, so a given
``run.seed`` always gives the same run). Each step is a named function of its own.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archlab.config import Config
from archlab.data.augment import BatchTransform
from archlab.data.datasets import TensorDataset, load_dataset
from archlab.data.inputspec import InputSpec
from archlab.data.loader import make_loader, split_targets, subset_split
from archlab.data.samplers import class_counts, sample_weights, sampler_effect
from archlab.models import model_info
from archlab.train import curriculum
from archlab.train.compiled import compile_model, compile_optimizer_step
from archlab.train.distributed import DistContext
from archlab.train.losses import build_loss
from archlab.train.optim import build_optimizer, build_scheduler
from archlab.train.setup import build_model_for, check_forward


@dataclass
class StageLoader:
    """The training loader of one curriculum stage, with its sampler weights and targets."""

    loader: Any
    weights: torch.Tensor | None
    targets: torch.Tensor


@dataclass
class Parts:
    """Everything a run trains with: data, loaders, transforms, model, optimisation."""

    cfg: Config
    device: torch.device
    ctx: DistContext
    data: TensorDataset
    spec: InputSpec
    stages: list[curriculum.Stage]
    train_loaders: dict[int, StageLoader]
    eval_loaders: dict[str, Any]
    train_tf: BatchTransform
    eval_tf: BatchTransform
    model: nn.Module
    forward_model: nn.Module
    params: int
    loss_fn: Any
    loss_info: dict[str, Any]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    sched_interval: str | None
    scaler: torch.amp.GradScaler
    amp: torch.dtype | None
    ema: torch.optim.swa_utils.AveragedModel | None
    monitor: str
    monitor_mode: str
    summary: str = ""
    notes: list[str] = field(default_factory=list)  # adjustments to tell the user (e.g. a shortened warm-up)

    @property
    def task(self) -> str:
        return self.data.task

    @property
    def epochs(self) -> int:
        return self.stages[-1].last_epoch

    @property
    def eval_model(self) -> nn.Module:
        """The weights evaluated and saved as ``best.pt``: the EMA's when train.ema > 0."""
        return self.ema.module if self.ema is not None else self.model

    def sampler_effect(self) -> dict[str, Any] | None:
        """Per stage, the weighted sampler's per-class effect (``None`` without a sampler)."""
        if self.cfg.data.sampler == "none":
            return None
        stages = {
            str(s.index): sampler_effect(
                self.train_loaders[s.index].targets, self.train_loaders[s.index].weights, self.data.classes
            )
            for s in self.stages
        }
        return {"rule": self.cfg.data.sampler, "stages": stages}


def main_metric(task: str) -> str:
    """The headline metric of a task: accuracy (single-label) or macro F1 (multi-label)."""
    return "macro_f1" if task == "multi_label" else "acc"


def monitor_of(cfg: Config, has_val: bool, task: str) -> tuple[str, str]:
    """The metric that selects best.pt and drives early stopping, and whether it should rise."""
    name = cfg.train.monitor
    if not cfg.train.eval_test and not has_val:
        raise ValueError("train.eval_test=false needs a validation split to evaluate; set data.val_split=0.1")
    if name.startswith("test/") and not cfg.train.eval_test:
        raise ValueError(f"train.monitor is {name!r} but train.eval_test is false; monitor a val/ metric")
    if name == "auto":
        name = f"{'val' if has_val else 'test'}/{main_metric(task)}"
    split, _, key = name.partition("/")
    if split not in ("train", "val", "test") or not key:
        raise ValueError(f"train.monitor expects split/metric such as val/acc or test/loss, got {name!r}")
    if split == "val" and not has_val:
        raise ValueError(
            f"train.monitor is {name!r} but there is no validation split; set data.val_split=0.1"
        )
    return name, ("min" if "loss" in key else "max")


def check_config(cfg: Config) -> None:
    """Mistakes found before any data is read: a typo in model.name, a bad train.accumulate."""
    if cfg.train.accumulate < 1:
        raise ValueError(f"train.accumulate must be at least 1, got {cfg.train.accumulate}")
    try:
        model_info(cfg.model.name)
    except ValueError as exc:
        raise ValueError(f"model.name: {exc}") from None


def build_loaders(
    cfg: Config, data: TensorDataset, stages: list[curriculum.Stage], device: torch.device, ctx: DistContext
) -> tuple[dict[int, StageLoader], dict[str, Any]]:
    """One training loader per curriculum stage (sampler weights included) and the eval loaders."""
    train_y = split_targets(data.train)
    common = {"device": device, "num_workers": cfg.data.num_workers, "rank": ctx.rank, "world": ctx.world}

    def stage_loader(stage: curriculum.Stage) -> StageLoader:
        index = curriculum.stage_index(train_y, stage)
        split = data.train if index is None else subset_split(data.train, index)
        y = train_y if index is None else train_y[index]
        weights = None
        if cfg.data.sampler != "none":
            weights = sample_weights(y, data.num_classes, cfg.data.sampler, cfg.data.sampler_beta)
        loader = make_loader(
            split,
            cfg.data.batch_size,
            shuffle=True,
            drop_last=cfg.data.drop_last,
            seed=cfg.run.seed,
            sampler_weights=weights,
            **common,
        )
        return StageLoader(loader, weights, y)

    train_loaders = {s.index: stage_loader(s) for s in stages}
    eval_loaders = {
        name: make_loader(split, cfg.data.eval_batch_size, shuffle=False, **common)
        for name, split in (("val", data.val), ("test", data.test if cfg.train.eval_test else None))
        if split is not None
    }
    return train_loaders, eval_loaders


def build_model(
    cfg: Config, data: TensorDataset, input_size: tuple[int, int, int], device: torch.device
) -> tuple[nn.Module, int]:
    """The model for the data's bands and classes, checked by one forward pass; its parameter count."""
    model = build_model_for(cfg, data).to(device)
    check_forward(model, input_size, cfg.model.name, device)
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    return model, params


def ema_with_warmup(decay: float):
    """EMA update for ``AveragedModel``: decay ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates.

    Without the warm-up, the average keeps a large share of the random initial weights for
    the first ~1 / (1 - decay) steps and evaluates far below the raw model (timm's ModelEmaV3
    warms up the same way).
    """

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        n = int(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], 1.0 - d)
        for a, c in zip(averaged, current):
            if not a.is_floating_point():
                a.copy_(c)

    return update


AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _resolve_amp(
    cfg: Config, model: nn.Module, spec: InputSpec, device: torch.device, ctx: DistContext
) -> tuple[Config, list[str]]:
    """``train.amp: auto`` measured on rank 0's device (see :mod:`archlab.train.precision`) and
    written into the config; any other value as it is, with a note on what bf16 is on a CPU."""
    from archlab.train.precision import choose_amp, cpu_bf16_note

    if cfg.train.amp == "bf16" and device.type == "cpu":
        return cfg, [cpu_bf16_note()]
    if cfg.train.amp != "auto":
        return cfg, []

    choice = None
    if ctx.is_main:
        x = torch.randn(cfg.data.batch_size, *spec.input_size, device=device)
        if cfg.train.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        choice = choose_amp(model, x)
    amp, note = ctx.broadcast((choice.amp, choice.note) if choice else None)
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, amp=amp)), [note]


def build_run(cfg: Config, device: torch.device, ctx: DistContext) -> Parts:
    """Data, loaders, transforms, model, loss, optimiser, schedule, scaler and EMA of ``cfg``."""
    check_config(cfg)
    data = load_dataset(cfg.data)
    task, has_val = data.task, data.val is not None
    stages = curriculum.plan(cfg.curriculum, data.classes, cfg.train.epochs)
    if stages[-1].last_epoch < 1:
        raise ValueError(f"train.epochs must be at least 1, got {stages[-1].last_epoch}")
    monitor, monitor_mode = monitor_of(cfg, has_val, task)
    counts = class_counts(split_targets(data.train), data.num_classes)
    if task == "multi_label" and cfg.data.augment.mixup + cfg.data.augment.cutmix > 0:
        raise ValueError("mixup/cutmix are for single-label data; set data.augment.mixup=0 and cutmix=0")
    train_loaders, eval_loaders = build_loaders(cfg, data, stages, device, ctx)
    spec = InputSpec.of_dataset(data, normalize=cfg.data.normalize)
    if cfg.data.resize:
        if len(cfg.data.resize) != 2 or min(cfg.data.resize) < 1:
            raise ValueError(f"data.resize expects [H, W] with positive sizes, got {cfg.data.resize}")
        spec = spec.with_size(cfg.data.resize)
    train_tf = BatchTransform(
        data.mean, data.std, data.scale, cfg.data.augment, cfg.data.normalize, cfg.data.resize
    )
    eval_tf = BatchTransform(data.mean, data.std, data.scale, None, cfg.data.normalize, cfg.data.resize)

    model, params = build_model(cfg, data, spec.input_size, device)
    summary = ""
    if cfg.run.summary and ctx.is_main:
        from archlab.inspect import summarize

        summary = summarize(
            model, input_size=spec.input_size, batch_size=1
        ).to_table()  # meta: allocates nothing
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if ctx.enabled and cfg.train.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    loss_fn, loss_info = build_loss(cfg, task, data.classes, counts.tolist(), device)
    optimizer = build_optimizer(model, cfg.optim)
    steps_per_epoch = max(
        math.ceil(len(train_loaders[s.index].loader) / cfg.train.accumulate) for s in stages
    )
    with warnings.catch_warnings(record=True) as caught:  # a schedule adjusted to a short run: say so plainly
        warnings.simplefilter("always", UserWarning)
        scheduler, sched_interval = build_scheduler(
            optimizer, cfg.sched, stages[-1].last_epoch, steps_per_epoch, mode=monitor_mode
        )
    cfg, amp_notes = _resolve_amp(cfg, model, spec, device, ctx)
    amp = AMP_DTYPES[cfg.train.amp]
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
    ema = None
    if cfg.train.ema > 0:
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=ema_with_warmup(cfg.train.ema), use_buffers=True
        )
    forward_model = ctx.wrap(model, device)
    if cfg.train.compile:  # the whole step: forward, its backward, and the optimiser's update
        forward_model = compile_model(forward_model, device)
        compile_optimizer_step(optimizer)
    return Parts(
        cfg=cfg,
        device=device,
        ctx=ctx,
        data=data,
        spec=spec,
        stages=stages,
        train_loaders=train_loaders,
        eval_loaders=eval_loaders,
        train_tf=train_tf,
        eval_tf=eval_tf,
        model=model,
        forward_model=forward_model,
        params=params,
        loss_fn=loss_fn,
        loss_info=loss_info,
        optimizer=optimizer,
        scheduler=scheduler,
        sched_interval=sched_interval,
        scaler=scaler,
        amp=amp,
        ema=ema,
        monitor=monitor,
        monitor_mode=monitor_mode,
        summary=summary,
        notes=amp_notes + [str(w.message) for w in caught],
    )
