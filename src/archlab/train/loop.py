"""One training epoch and one evaluation, as named units of the engine.

Reproducibility: each epoch reseeds torch (dropout), the sample order and the
augmentation from ``(run.seed, epoch)``. A checkpoint written at the end of an epoch
therefore replays the following epochs exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archlab.data.augment import Mixed
from archlab.data.loader import epoch_seed
from archlab.train import curriculum
from archlab.train.build import Parts, main_metric
from archlab.train.compiled import compile_seconds
from archlab.train.evaluate import predict_all, score
from archlab.train.metrics import tune_thresholds


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class Position:
    """Where the run is: updated by :func:`train_one_epoch` step by step (read when it is stopped)."""

    epoch: int = 0
    step: int = 0
    steps: int = 0


def progress_bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="batch",
        leave=False,
        dynamic_ncols=True,
        disable=not enabled,
        mininterval=0.5,
    )


def train_one_epoch(parts: Parts, epoch: int, position: Position, kept: str) -> dict[str, Any]:
    """Train ``parts.model`` for one epoch; return the epoch's training loss, metric and speed.

    ``kept`` says which checkpoint survives, for the message when the loss stops being finite.
    """
    cfg, ctx, device, task = parts.cfg, parts.ctx, parts.device, parts.task
    stage = curriculum.stage_of(parts.stages, epoch)
    loader = parts.train_loaders[stage.index].loader
    torch.manual_seed(epoch_seed(cfg.run.seed, epoch, 0))
    aug_gen = torch.Generator().manual_seed(epoch_seed(cfg.run.seed, epoch, 2))
    loader.set_epoch(epoch)
    model, optimizer, scaler, accumulate = parts.model, parts.optimizer, parts.scaler, cfg.train.accumulate
    model.train()
    compiling_before = compile_seconds() if cfg.train.compile else 0.0
    t0 = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    hits = torch.zeros(3, device=device, dtype=torch.long)  # correct | (tp, fp, fn) for multi-label
    seen = 0
    position.epoch, position.step, position.steps = epoch, 0, len(loader)
    bar = progress_bar(len(loader), f"epoch {epoch}/{parts.epochs}", cfg.run.progress and ctx.is_main)
    optimizer.zero_grad(set_to_none=True)
    for step, (xb, yb) in enumerate(loader, start=1):
        position.step = step
        x, target = parts.train_tf(xb, yb, aug_gen)
        if task == "multi_label":
            target = target.float()
        if cfg.train.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=parts.amp or torch.float32, enabled=parts.amp is not None):
            logits = parts.forward_model(x)
        loss = _loss(parts.loss_fn, logits.float(), target)
        scaler.scale(loss / accumulate).backward()
        if step % accumulate == 0 or step == len(loader):
            if cfg.train.grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            if parts.ema is not None:
                parts.ema.update_parameters(model)
            if parts.scheduler is not None and parts.sched_interval == "step":
                parts.scheduler.step()
        n = yb.shape[0]
        seen += n
        loss_sum += loss.detach() * n
        with torch.no_grad():
            if task == "multi_label":
                pred, truth = logits.detach() > 0, yb > 0.5
                hits += torch.stack([(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()])
            else:
                hits[0] += (logits.detach().argmax(1) == yb).sum()
        if step % 20 == 0 or step == len(loader):
            shown = loss_sum.item() / seen
            bad = ctx.all_reduce_sum(torch.tensor([0.0 if math.isfinite(shown) else 1.0], device=device))
            if bad.item() > 0:
                bar.close()
                raise TrainingDiverged(
                    f"loss became {shown} at epoch {epoch}, step {step}; {kept}. "
                    "Start a new run with a lower optim.lr, or set train.grad_clip"
                )
            rate = seen / max(1e-9, time.perf_counter() - t0)
            bar.set_postfix(
                {
                    "loss": f"{shown:.4f}",
                    main_metric(task): f"{100 * train_metric(task, hits, seen):.2f}",
                    "lr": f"{optimizer.param_groups[0]['lr']:.2e}",
                    "img/s": f"{rate:,.0f}",
                },
                refresh=False,
            )
        bar.update(1)
    bar.close()
    train_time = time.perf_counter() - t0
    if ctx.enabled:  # every rank's samples
        totals = ctx.all_reduce_sum(
            torch.cat(
                [loss_sum.view(1), hits.double(), torch.tensor([seen], device=device, dtype=torch.double)]
            )
        )
        loss_sum, hits, seen = totals[0], totals[1:4].long(), int(totals[4].item())
    metrics = {
        "loss": loss_sum.item() / seen,
        "acc" if task == "single_label" else "micro_f1": train_metric(task, hits, seen),
        "images_per_s": seen / train_time,
        "time_s": train_time,
        "samples": seen,
    }
    if cfg.train.compile:  # part of time_s, on this process
        metrics["compile_s"] = compile_seconds() - compiling_before
    return metrics


def evaluate_epoch(parts: Parts) -> tuple[dict[str, dict[str, Any]], torch.Tensor | float]:
    """Metrics of the evaluated weights on every evaluation split, and the thresholds used.

    Multi-label runs with ``train.tune_thresholds`` tune one threshold per class on the
    validation split (never on test) and apply them to every split.
    """
    cfg, ctx = parts.cfg, parts.ctx
    ctx.average_buffers(parts.model)
    outputs = {}
    for name, loader in parts.eval_loaders.items():
        logits, targets = predict_all(
            parts.eval_model, loader, parts.eval_tf, amp=parts.amp, channels_last=cfg.train.channels_last
        )
        n = loader.num_samples
        outputs[name] = (ctx.gather_shards(logits, n).cpu(), ctx.gather_shards(targets, n).cpu())
    thresholds: torch.Tensor | float = cfg.train.threshold
    if parts.task == "multi_label" and cfg.train.tune_thresholds:
        if "val" not in outputs:
            raise ValueError("train.tune_thresholds needs a validation split; set data.val_split=0.1")
        thresholds = tune_thresholds(torch.sigmoid(outputs["val"][0]), outputs["val"][1])
    metrics = {
        name: score(
            logits,
            targets,
            parts.task,
            parts.data.num_classes,
            parts.loss_fn,
            topk=cfg.train.topk,
            thresholds=thresholds,
        )
        for name, (logits, targets) in outputs.items()
    }
    return metrics, thresholds


def train_metric(task: str, hits: torch.Tensor, seen: int) -> float:
    if task == "multi_label":
        tp, fp, fn = hits.tolist()
        return 2 * tp / max(1, 2 * tp + fp + fn)
    return hits[0].item() / max(1, seen)


def _loss(loss_fn, logits: torch.Tensor, target: torch.Tensor | Mixed) -> torch.Tensor:
    if isinstance(target, Mixed):
        return target.lam * loss_fn(logits, target.y) + (1 - target.lam) * loss_fn(logits, target.y_b)
    return loss_fn(logits, target)
