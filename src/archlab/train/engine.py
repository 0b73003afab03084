"""The training engine behind ``archlab train`` and :func:`archlab.train`.

The whole recipe reads top to bottom in :func:`train`: data, model, loss and
optimiser, then for each epoch: train with a live bar, evaluate, log, checkpoint.
Single-label and multi-label tasks share it; the dataset says which.

Reproducibility: each epoch reseeds torch (dropout), the sample order and the
augmentation from ``(run.seed, epoch)``. A checkpoint written at the end of an
epoch therefore replays the following epochs exactly: a run killed mid-epoch
and resumed from ``last.pt`` ends with the same metrics as an uninterrupted run
(on CPU in deterministic mode).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archlab.config import Config, build_config, load_config
from archlab.data.augment import BatchTransform, Mixed
from archlab.data.datasets import load_dataset
from archlab.data.loader import epoch_seed, make_loader, split_targets, subset_split
from archlab.data.samplers import class_counts, sample_weights, sampler_effect
from archlab.models import model_info
from archlab.train import curriculum, rundir
from archlab.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from archlab.train.distributed import init_from_env
from archlab.train.evaluate import predict_all, score
from archlab.train.losses import build_loss
from archlab.train.metrics import tune_thresholds
from archlab.train.optim import build_optimizer, build_scheduler
from archlab.train.setup import (
    build_model_for,
    check_forward,
    environment,
    resolve_device,
    seed_everything,
    set_determinism,
)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    results: dict[str, Any]
    history: list[dict[str, Any]]
    model: nn.Module | None = None  # the trained model (EMA weights when train.ema > 0), in eval mode


def main_metric(task: str) -> str:
    """The headline metric of a task: accuracy (single-label) or macro F1 (multi-label)."""
    return "macro_f1" if task == "multi_label" else "acc"


def monitor_of(cfg: Config, has_val: bool, task: str) -> tuple[str, str]:
    """The metric that selects best.pt and drives early stopping, and whether it should rise."""
    name = cfg.train.monitor
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


def _amp_dtype(amp: str) -> torch.dtype | None:
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def _progress(total: int, desc: str, enabled: bool):
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


def _summary_text(model: nn.Module, input_size: tuple[int, int, int], device: torch.device) -> str:
    from archlab.inspect import summarize

    return summarize(model, input_size=input_size, batch_size=1, device=device).to_table()


def _resolve_config(cfg, overrides, resume) -> tuple[Config, Path | None, dict | None]:
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / rundir.CONFIG).is_file():
            raise FileNotFoundError(
                f"{str(run_dir)!r} is not a run directory (no {rundir.CONFIG}); pass the folder a run wrote"
            )
        return (
            load_config(run_dir / rundir.CONFIG, overrides),
            run_dir,
            load_checkpoint(run_dir / rundir.LAST),
        )
    if isinstance(cfg, Config):
        return build_config(cfg.to_dict(), overrides), None, None
    if isinstance(cfg, dict):
        return build_config(cfg, overrides), None, None
    return load_config(cfg, overrides), None, None


def train(
    cfg: Config | dict | str | Path | None = None,
    *,
    overrides: list[str] | None = None,
    resume: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> RunResult:
    """Train a model as ``cfg`` describes; return the run directory, results and history.

    ``cfg`` is a :class:`Config`, a nested dict, a YAML path, or ``None`` for the
    embedded default (the small CNN on scikit-learn's digits). ``resume`` is a
    run directory: its config (plus ``overrides``) and ``last.pt`` continue the run.
    """
    # ---- configuration, device ------------------------------------------------------------------
    cfg, run_dir, ckpt = _resolve_config(cfg, overrides, resume)
    if cfg.train.accumulate < 1:
        raise ValueError(f"train.accumulate must be at least 1, got {cfg.train.accumulate}")
    device = resolve_device(cfg.run.device)
    ctx = init_from_env(device.type)
    device = ctx.device(device)
    if not ctx.is_main:
        echo = _silent
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    set_determinism(cfg.run.deterministic)
    seed_everything(cfg.run.seed)

    try:  # a typo in model.name is reported before any data is read
        model_info(cfg.model.name)
    except ValueError as exc:
        raise ValueError(f"model.name: {exc}") from None

    # ---- data -----------------------------------------------------------------------------------
    data = load_dataset(cfg.data)
    task, input_size, has_val = data.task, data.input_size, data.val is not None
    stages = curriculum.plan(cfg.curriculum, data.classes, cfg.train.epochs)
    epochs = stages[-1].last_epoch
    if epochs < 1:
        raise ValueError(f"train.epochs must be at least 1, got {epochs}")
    monitor, monitor_mode = monitor_of(cfg, has_val, task)
    train_y = split_targets(data.train)
    counts = class_counts(train_y, data.num_classes)
    if task == "multi_label" and cfg.data.augment.mixup + cfg.data.augment.cutmix > 0:
        raise ValueError("mixup/cutmix are for single-label data; set data.augment.mixup=0 and cutmix=0")

    def train_loader_for(stage: curriculum.Stage):
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
            device=device,
            seed=cfg.run.seed,
            sampler_weights=weights,
            num_workers=cfg.data.num_workers,
            rank=ctx.rank,
            world=ctx.world,
        )
        return loader, weights, y

    loaders = {s.index: train_loader_for(s) for s in stages}
    eval_loaders = {
        name: make_loader(
            split,
            cfg.data.eval_batch_size,
            shuffle=False,
            device=device,
            num_workers=cfg.data.num_workers,
            rank=ctx.rank,
            world=ctx.world,
        )
        for name, split in (("val", data.val), ("test", data.test))
        if split is not None
    }
    train_tf = BatchTransform(data.mean, data.std, data.scale, cfg.data.augment, normalize=cfg.data.normalize)
    eval_tf = BatchTransform(data.mean, data.std, data.scale, None, normalize=cfg.data.normalize)

    # ---- model, summary, loss, optimiser --------------------------------------------------------
    model = build_model_for(cfg, data).to(device)
    check_forward(model, input_size, cfg.model.name, device)
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    summary = _summary_text(model, input_size, device) if cfg.run.summary and ctx.is_main else ""
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if ctx.enabled and cfg.train.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    loss_fn, loss_info = build_loss(cfg, task, data.classes, counts.tolist(), device)
    optimizer = build_optimizer(model, cfg.optim)
    steps_per_epoch = max(math.ceil(len(loaders[s.index][0]) / cfg.train.accumulate) for s in stages)
    scheduler, sched_interval = build_scheduler(
        optimizer, cfg.sched, epochs, steps_per_epoch, mode=monitor_mode
    )
    amp = _amp_dtype(cfg.train.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
    ema = None
    if cfg.train.ema > 0:
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=ema_with_warmup(cfg.train.ema), use_buffers=True
        )
    forward_model = ctx.wrap(model, device)
    forward_model = torch.compile(forward_model) if cfg.train.compile else forward_model

    history: list[dict[str, Any]] = []
    start_epoch, best_value, best_epoch, bad_epochs = 1, None, None, 0
    if ckpt is not None:
        check_resume_changes(ckpt["config"], cfg)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt.get("scheduler") is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler") is not None:
            scaler.load_state_dict(ckpt["scaler"])
        if ema is not None and ckpt.get("ema") is not None:
            ema.load_state_dict(ckpt["ema"])
        set_rng_state(ckpt["rng"])
        history = list(ckpt["history"])
        start_epoch = ckpt["epoch"] + 1
        best_value, best_epoch, bad_epochs = ckpt["best_value"], ckpt["best_epoch"], ckpt["bad_epochs"]
    else:
        run_dir = None
        if ctx.is_main:
            run_dir = rundir.new_run_dir(
                cfg.run.out_dir, cfg.run.name, Path(cfg.model.name).stem, cfg.data.name
            )
        run_dir = ctx.broadcast(run_dir)
    if ckpt is None and ctx.is_main:
        rundir.write_yaml(run_dir / rundir.CONFIG, cfg.to_dict())
        if summary:
            (run_dir / rundir.SUMMARY).write_text(summary + "\n")
        if cfg.data.sampler != "none":
            effect = {
                str(s.index): sampler_effect(y, w, data.classes)
                for s, (_, w, y) in ((s, loaders[s.index]) for s in stages)
            }
            rundir.write_json(run_dir / "sampler.json", {"rule": cfg.data.sampler, "stages": effect})

    meta = {
        "config": cfg.to_dict(),
        "model_name": cfg.model.name,
        "classes": data.classes,
        "input_size": list(input_size),
        "bands": data.bands,
        "mean": data.mean,
        "std": data.std,
        "scale": data.scale,
        "task": task,
        "params": params,
        "archlab_version": _version(),
    }
    writer = None
    if cfg.run.tensorboard and ctx.is_main:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError(
                "run.tensorboard needs the tensorboard package: pip install tensorboard"
            ) from None
        writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    key = main_metric(task)
    echo(f"run directory: {run_dir}")
    sizes = " / ".join(
        f"{n} {len(s):,}"
        for n, s in (("train", data.train), ("val", data.val), ("test", data.test))
        if s is not None
    )
    echo(
        f"device: {device} | model: {cfg.model.name} ({params:,} parameters) | data: {data.name} {sizes} "
        f"| input {'x'.join(map(str, input_size))} | {task.replace('_', '-')}, loss {loss_info['loss']}"
    )
    if data.skipped:
        echo(f"skipped {len(data.skipped)} bad samples (data.on_error=skip); first: {data.skipped[0]}")
    if summary and start_epoch == 1:
        echo(summary)
    if start_epoch > 1:
        echo(f"resuming at epoch {start_epoch} of {epochs}")

    t_run = time.perf_counter()
    wall_before = history[-1]["wall_time_s"] if history else 0.0
    stopped_early = False
    # ---- the epochs -----------------------------------------------------------------------------
    for epoch in range(start_epoch, epochs + 1):
        stage = curriculum.stage_of(stages, epoch)
        train_loader = loaders[stage.index][0]
        if len(stages) > 1 and epoch == stage.first_epoch:
            echo(
                f"curriculum stage {stage.index + 1}/{len(stages)}: {stage.name} "
                f"({train_loader.num_samples:,} training samples, epochs {stage.first_epoch}-{stage.last_epoch})"
            )
        torch.manual_seed(epoch_seed(cfg.run.seed, epoch, 0))
        aug_gen = torch.Generator().manual_seed(epoch_seed(cfg.run.seed, epoch, 2))
        train_loader.set_epoch(epoch)
        model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        hits = torch.zeros(3, device=device, dtype=torch.long)  # correct | (tp, fp, fn) for multi-label
        seen = 0
        bar = _progress(len(train_loader), f"epoch {epoch}/{epochs}", cfg.run.progress and ctx.is_main)
        optimizer.zero_grad(set_to_none=True)
        for step, (xb, yb) in enumerate(train_loader, start=1):
            x, target = train_tf(xb, yb, aug_gen)
            if task == "multi_label":
                target = target.float()
            if cfg.train.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                logits = forward_model(x)
            if isinstance(target, Mixed):
                loss = target.lam * loss_fn(logits.float(), target.y) + (1 - target.lam) * loss_fn(
                    logits.float(), target.y_b
                )
            else:
                loss = loss_fn(logits.float(), target)
            scaler.scale(loss / cfg.train.accumulate).backward()
            if step % cfg.train.accumulate == 0 or step == len(train_loader):
                if cfg.train.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                if ema is not None:
                    ema.update_parameters(model)
                if scheduler is not None and sched_interval == "step":
                    scheduler.step()
            n = yb.shape[0]
            seen += n
            loss_sum += loss.detach() * n
            with torch.no_grad():
                if task == "multi_label":
                    pred, truth = logits.detach() > 0, yb > 0.5
                    hits += torch.stack([(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()])
                else:
                    hits[0] += (logits.detach().argmax(1) == yb).sum()
            if step % 20 == 0 or step == len(train_loader):
                shown = loss_sum.item() / seen
                bad = ctx.all_reduce_sum(torch.tensor([0.0 if math.isfinite(shown) else 1.0], device=device))
                if bad.item() > 0:
                    bar.close()
                    kept = (
                        f"kept the last good checkpoint in {run_dir} (epoch {epoch - 1})"
                        if epoch > 1
                        else f"no epoch finished, so {run_dir} holds no checkpoint"
                    )
                    raise TrainingDiverged(
                        f"loss became {shown} at epoch {epoch}, step {step}; {kept}. "
                        "Start a new run with a lower optim.lr, or set train.grad_clip"
                    )
                rate = seen / max(1e-9, time.perf_counter() - t0)
                bar.set_postfix(
                    {
                        "loss": f"{shown:.4f}",
                        key: f"{100 * _train_metric(task, hits, seen):.2f}",
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
        train_metrics = {
            "loss": loss_sum.item() / seen,
            key if task == "single_label" else "micro_f1": _train_metric(task, hits, seen),
            "images_per_s": seen / train_time,
            "time_s": train_time,
            "samples": seen,
        }

        # ---- evaluate, log, checkpoint ----------------------------------------------------------
        ctx.average_buffers(model)
        eval_model = ema.module if ema is not None else model
        record: dict[str, Any] = {
            "epoch": epoch,
            "lr": optimizer.param_groups[0]["lr"],
            "train": train_metrics,
        }
        if len(stages) > 1:
            record["stage"] = {"index": stage.index, "name": stage.name, "classes": stage.classes}
        t1 = time.perf_counter()
        outputs = {}
        for name, loader in eval_loaders.items():
            logits, targets = predict_all(
                eval_model, loader, eval_tf, amp=amp, channels_last=cfg.train.channels_last
            )
            n = loader.num_samples
            outputs[name] = (ctx.gather_shards(logits, n).cpu(), ctx.gather_shards(targets, n).cpu())
        thresholds: torch.Tensor | float = cfg.train.threshold
        if task == "multi_label" and cfg.train.tune_thresholds:
            if "val" not in outputs:
                raise ValueError("train.tune_thresholds needs a validation split; set data.val_split=0.1")
            thresholds = tune_thresholds(torch.sigmoid(outputs["val"][0]), outputs["val"][1])
        for name, (logits, targets) in outputs.items():
            record[name] = score(
                logits, targets, task, data.num_classes, loss_fn, topk=cfg.train.topk, thresholds=thresholds
            )
        record["eval_time_s"] = time.perf_counter() - t1
        record["wall_time_s"] = wall_before + time.perf_counter() - t_run

        split, _, mkey = monitor.partition("/")
        if mkey not in record[split]:
            raise ValueError(
                f"train.monitor {monitor!r}: the {split} metrics have no {mkey!r}; "
                f"choose one of {sorted(k for k, v in record[split].items() if isinstance(v, float))}"
            )
        value = record[split][mkey]
        improved = best_value is None or (value > best_value if monitor_mode == "max" else value < best_value)
        if improved:
            best_value, best_epoch, bad_epochs = value, epoch, 0
        else:
            bad_epochs += 1
        if scheduler is not None and sched_interval == "epoch":
            scheduler.step()
        elif scheduler is not None and sched_interval == "plateau":
            scheduler.step(value)
        history.append(record)

        state = {
            **meta,
            "model": eval_model.state_dict(),
            "epoch": epoch,
            "metrics": {k: record[k] for k in record if k in ("train", "val", "test")},
            "thresholds": (
                thresholds.tolist()
                if isinstance(thresholds, torch.Tensor)
                else [float(thresholds)] * data.num_classes
            )
            if task == "multi_label"
            else None,
        }
        if improved and ctx.is_main:
            save_checkpoint(state, run_dir / rundir.BEST)
        if ctx.is_main:
            save_checkpoint(
                {
                    **state,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "scaler": scaler.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "rng": rng_state(),
                    "history": history,
                    "best_value": best_value,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                },
                run_dir / rundir.LAST,
            )
            rundir.write_metrics(run_dir, history)
        if writer is not None:
            for k, v in rundir.flat_row(record).items():
                if isinstance(v, float | int) and k != "epoch":
                    writer.add_scalar(k, v, epoch)
        echo(rundir.epoch_line(record, epochs, key, list(eval_loaders)) + (" *" if improved else ""))

        if cfg.train.early_stopping > 0 and bad_epochs >= cfg.train.early_stopping:
            echo(
                f"early stopping: {monitor} has not improved for {bad_epochs} epochs (best {best_value:.4f} "
                f"at epoch {best_epoch})"
            )
            stopped_early = True
            break

    if writer is not None:
        writer.close()
    results = summarize_history(history, params, monitor, best_epoch, task)
    results.update(
        run_dir=str(run_dir),
        stopped_early=stopped_early,
        model=cfg.model.name,
        dataset=data.name,
        task=task,
        loss=loss_info,
        skipped_samples=len(data.skipped),
        environment=environment(device),
        world_size=ctx.world,
    )
    if len(stages) > 1:
        results["stages"] = stage_results(history, stages, key)
    if ctx.is_main:
        rundir.write_json(run_dir / rundir.RESULTS, results)
    if ctx.is_main and cfg.run.report:
        _write_report(run_dir, echo)
    echo(rundir.results_block(results))
    ctx.barrier()
    ctx.close()
    final = (ema.module if ema is not None else model).eval()
    return RunResult(run_dir=run_dir, results=results, history=history, model=final)


def check_resume_changes(saved: dict[str, Any], cfg: Config) -> None:
    """Refuse ``--set`` overrides on resume that the restored optimiser or schedule would silently undo.

    Per-epoch schedules (none, step, multistep, plateau) may run for more epochs; the
    optimiser's settings and per-step schedules (onecycle, cosine) are fixed by the run.
    """
    new = cfg.to_dict()
    for section in ("model", "optim", "sched"):
        for key, value in new[section].items():
            if saved[section].get(key) != value:
                raise ValueError(
                    f"{section}.{key} changed from {saved[section].get(key)!r} to {value!r}, but a resumed run keeps "
                    "its optimiser and schedule; start a new run (optionally with model.pretrained=RUN_DIR/last.pt)"
                )
    old_epochs, new_epochs = saved["train"]["epochs"], new["train"]["epochs"]
    if old_epochs != new_epochs and new["sched"]["name"] in ("onecycle", "cosine") and not new["curriculum"]:
        raise ValueError(
            f"train.epochs changed from {old_epochs} to {new_epochs}, but the {new['sched']['name']} schedule was "
            "planned over the original epochs; resume with the same train.epochs, or start a new run"
        )
    if saved.get("curriculum") != new["curriculum"]:
        raise ValueError("curriculum changed on resume; a resumed run keeps its stages — start a new run")


def _write_report(run_dir: Path, echo: Callable[[str], None]) -> None:
    """report.md and report.html of the finished run; a report problem never fails the run."""
    from archlab.report import write_run_report

    try:
        md, html = write_run_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded; say what went wrong and go on
        echo(
            f"warning: the report could not be written ({type(exc).__name__}: {exc}); "
            f"retry with: archlab report {run_dir}"
        )
        return
    echo(f"report: {html}")


def ema_with_warmup(decay: float) -> Callable:
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


def _silent(_: str) -> None:
    pass


def _train_metric(task: str, hits: torch.Tensor, seen: int) -> float:
    if task == "multi_label":
        tp, fp, fn = hits.tolist()
        return 2 * tp / max(1, 2 * tp + fp + fn)
    return hits[0].item() / max(1, seen)


def _best(history: list[dict[str, Any]], split: str, key: str) -> tuple[float | None, int | None]:
    rows = [(r[split][key], r["epoch"]) for r in history if key in r.get(split, {})]
    if not rows:
        return None, None
    value = max(v for v, _ in rows)
    return value, next(e for v, e in rows if v == value)


def summarize_history(
    history: list[dict[str, Any]],
    params: int,
    monitor: str,
    best_epoch: int | None,
    task: str = "single_label",
) -> dict[str, Any]:
    """Best figures of a run (1-based epochs), as in seed 001's results block."""
    key = main_metric(task)
    train_key = key if task == "single_label" else "micro_f1"
    selected = next((r for r in history if r["epoch"] == best_epoch), None)
    out: dict[str, Any] = {"params": params, "metric": key}
    out["best_train_" + train_key], out["best_train_epoch"] = _best(history, "train", train_key)
    for split in ("val", "test"):
        out[f"best_{split}_{key}"], out[f"best_{split}_epoch"] = _best(history, split, key)
        if task == "multi_label":
            out[f"best_{split}_map_macro"], out[f"best_{split}_map_epoch"] = _best(
                history, split, "map_macro"
            )
    out.update(
        {
            f"final_test_{key}": history[-1]["test"][key],
            "monitor": monitor,
            "selected_epoch": best_epoch,
            f"selected_test_{key}": selected["test"][key] if selected else None,
            "epochs_run": len(history),
            "wall_time_s": history[-1]["wall_time_s"],
            "train_time_s": sum(r["train"]["time_s"] for r in history),
            "mean_images_per_s": sum(r["train"]["images_per_s"] for r in history) / len(history),
        }
    )
    return out


def stage_results(
    history: list[dict[str, Any]], stages: list[curriculum.Stage], key: str
) -> list[dict[str, Any]]:
    """Per curriculum stage: its classes, epochs, and the best and last evaluation metric in it."""
    out = []
    for s in stages:
        rows = [r for r in history if s.first_epoch <= r["epoch"] <= s.last_epoch]
        split = "val" if rows and "val" in rows[0] else "test"
        entry = {
            "stage": s.index + 1,
            "name": s.name,
            "classes": s.classes,
            "epochs": [s.first_epoch, s.last_epoch],
            "split": split,
        }
        if rows:
            best = max(rows, key=lambda r: r[split][key])
            entry.update(
                {
                    f"best_{key}": best[split][key],
                    "best_epoch": best["epoch"],
                    f"last_{key}": rows[-1][split][key],
                    "last_per_class_f1": rows[-1][split].get("per_class_f1"),
                }
            )
        out.append(entry)
    return out


def _version() -> str:
    from archlab import __version__

    return __version__
