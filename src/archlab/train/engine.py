"""The training engine behind ``archlab train`` and :func:`archlab.train`.

The whole recipe reads top to bottom in :func:`train`: data, model, optimiser,
then for each epoch: train with a live bar, evaluate, log, checkpoint.

Reproducibility: each epoch reseeds torch (dropout), the sample order and the
augmentation from ``(run.seed, epoch)``. A checkpoint written at the end of an
epoch therefore replays the following epochs exactly: a run killed mid-epoch
and resumed from ``last.pt`` ends with the same metrics as an uninterrupted run
(on CPU in deterministic mode).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archlab.config import Config, build_config, load_config
from archlab.data.augment import BatchTransform, Mixed
from archlab.data.datasets import TensorDataset, load_dataset
from archlab.data.loader import BatchLoader, epoch_seed
from archlab.models import create_model, model_info
from archlab.train import rundir
from archlab.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from archlab.train.metrics import classification_metrics
from archlab.train.optim import build_optimizer, build_scheduler


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    results: dict[str, Any]
    history: list[dict[str, Any]]


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unavailable explicit device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"run.device {name!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("run.device is cuda but no CUDA GPU is available; use run.device=auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("run.device is mps but MPS is not available; use run.device=auto or cpu")
    return device


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_determinism(enabled: bool) -> None:
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = enabled


def build_model_for(cfg: Config, data: TensorDataset) -> nn.Module:
    """Create ``cfg.model`` for the dataset's classes and bands; check they agree."""
    c = data.input_size[0]
    num_classes = cfg.model.num_classes or data.num_classes
    in_chans = cfg.model.in_chans or c
    if num_classes != data.num_classes:
        raise ValueError(
            f"model.num_classes is {num_classes} but dataset {data.name!r} has {data.num_classes} classes; "
            "remove model.num_classes or set it to the dataset's"
        )
    if in_chans != c:
        raise ValueError(
            f"model.in_chans is {in_chans} but dataset {data.name!r} has {c} bands; "
            "remove model.in_chans or set it to the dataset's"
        )
    return create_model(
        cfg.model.name,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=cfg.model.pretrained,
        **cfg.model.kwargs,
    )


def check_forward(
    model: nn.Module, input_size: tuple[int, int, int], name: str, device: torch.device
) -> None:
    """Run one eval-mode forward on zeros, turning a shape error into a one-line ValueError."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, *input_size, device=device))
    except RuntimeError as exc:
        default = model_info(name)["input_size"]
        first = str(exc).strip().splitlines()[0]
        raise ValueError(
            f"model {name!r} cannot take inputs of {'x'.join(map(str, input_size))} (its default input is "
            f"{'x'.join(map(str, default))}): {first}"
        ) from None
    finally:
        model.train(was_training)


def monitor_of(cfg: Config, has_val: bool) -> tuple[str, str]:
    """The metric that selects best.pt and drives early stopping, and whether it should rise."""
    name = cfg.train.monitor
    if name == "auto":
        name = "val/acc" if has_val else "test/acc"
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


def evaluate(
    model: nn.Module,
    loader: BatchLoader,
    transform: BatchTransform,
    num_classes: int,
    *,
    amp: torch.dtype | None = None,
    channels_last: bool = False,
    topk: int = 5,
) -> dict[str, Any]:
    """Loss and classification metrics of ``model`` on every sample of ``loader``."""
    was_training = model.training
    model.eval()
    logits_all, targets_all = [], []
    device = loader.x.device
    with torch.no_grad(), torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
        for xb, yb in loader:
            x, _ = transform(xb, yb)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            logits_all.append(model(x).float())
            targets_all.append(yb)
    model.train(was_training)
    logits, targets = torch.cat(logits_all), torch.cat(targets_all)
    out = {"loss": F.cross_entropy(logits, targets).item()}
    out.update(classification_metrics(logits, targets, num_classes, topk=topk))
    return out


def _loss_fn(cfg: Config, num_classes: int, device: torch.device) -> Callable:
    weight = None
    if cfg.train.class_weights is not None:
        if len(cfg.train.class_weights) != num_classes:
            raise ValueError(
                f"train.class_weights has {len(cfg.train.class_weights)} entries but there are {num_classes} classes"
            )
        weight = torch.tensor(cfg.train.class_weights, dtype=torch.float32, device=device)
    smoothing = cfg.train.label_smoothing

    def loss(logits: torch.Tensor, target: torch.Tensor | Mixed) -> torch.Tensor:
        if isinstance(target, Mixed):
            return target.lam * F.cross_entropy(
                logits, target.y, weight=weight, label_smoothing=smoothing
            ) + (1.0 - target.lam) * F.cross_entropy(
                logits, target.y_b, weight=weight, label_smoothing=smoothing
            )
        return F.cross_entropy(logits, target, weight=weight, label_smoothing=smoothing)

    return loss


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


def _summary_text(model: nn.Module, input_size: tuple[int, int, int]) -> str:
    from archlab.inspect import summarize

    return summarize(model, input_size=input_size, batch_size=1).to_table()


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


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
    # ---- configuration, run directory, device ---------------------------------------------------
    ckpt = None
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / rundir.CONFIG).is_file():
            raise FileNotFoundError(
                f"{str(run_dir)!r} is not a run directory (no {rundir.CONFIG}); pass the folder a run wrote"
            )
        cfg = load_config(run_dir / rundir.CONFIG, overrides)
        ckpt = load_checkpoint(run_dir / rundir.LAST)
    elif isinstance(cfg, Config):
        cfg = build_config(cfg.to_dict(), overrides)
    elif isinstance(cfg, dict):
        cfg = build_config(cfg, overrides)
    else:
        cfg = load_config(cfg, overrides)
    if cfg.train.epochs < 1:
        raise ValueError(f"train.epochs must be at least 1, got {cfg.train.epochs}")
    if cfg.train.accumulate < 1:
        raise ValueError(f"train.accumulate must be at least 1, got {cfg.train.accumulate}")
    device = resolve_device(cfg.run.device)
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    set_determinism(cfg.run.deterministic)
    seed_everything(cfg.run.seed)

    # ---- data -----------------------------------------------------------------------------------
    data = load_dataset(cfg.data)
    input_size = data.input_size
    has_val = data.val is not None
    monitor, monitor_mode = monitor_of(cfg, has_val)
    train_loader = BatchLoader(
        data.train,
        cfg.data.batch_size,
        shuffle=True,
        drop_last=cfg.data.drop_last,
        device=device,
        seed=cfg.run.seed,
    )
    eval_loaders = {"test": BatchLoader(data.test, cfg.data.eval_batch_size, shuffle=False, device=device)}
    if has_val:
        eval_loaders = {
            "val": BatchLoader(data.val, cfg.data.eval_batch_size, shuffle=False, device=device),
            **eval_loaders,
        }
    train_tf = BatchTransform(data.mean, data.std, data.scale, cfg.data.augment, normalize=cfg.data.normalize)
    eval_tf = BatchTransform(data.mean, data.std, data.scale, None, normalize=cfg.data.normalize)

    # ---- model, summary, optimiser --------------------------------------------------------------
    model = build_model_for(cfg, data).to(device)
    check_forward(model, input_size, cfg.model.name, device)
    params = sum(p.numel() for p in model.parameters())
    summary = _summary_text(model, input_size) if cfg.run.summary else ""
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg.optim)
    steps_per_epoch = math.ceil(len(train_loader) / cfg.train.accumulate)
    scheduler, sched_interval = build_scheduler(
        optimizer, cfg.sched, cfg.train.epochs, steps_per_epoch, mode=monitor_mode
    )
    amp = _amp_dtype(cfg.train.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
    ema = None
    if cfg.train.ema > 0:
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.train.ema), use_buffers=True
        )
    forward_model = torch.compile(model) if cfg.train.compile else model
    loss_fn = _loss_fn(cfg, data.num_classes, device)

    history: list[dict[str, Any]] = []
    start_epoch, best_value, best_epoch, bad_epochs = 1, None, None, 0
    if ckpt is not None:
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
        run_dir = rundir.new_run_dir(cfg.run.out_dir, cfg.run.name, cfg.model.name, cfg.data.name)
        rundir.write_yaml(run_dir / rundir.CONFIG, cfg.to_dict())
        if summary:
            (run_dir / rundir.SUMMARY).write_text(summary + "\n")

    meta = {
        "config": cfg.to_dict(),
        "model_name": cfg.model.name,
        "classes": data.classes,
        "input_size": list(input_size),
        "bands": data.bands,
        "mean": data.mean,
        "std": data.std,
        "scale": data.scale,
        "task": "single_label",
        "params": params,
        "archlab_version": _version(),
    }
    writer = None
    if cfg.run.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    echo(f"run directory: {run_dir}")
    sizes = (
        f"train {len(data.train):,} / "
        + (f"val {len(data.val):,} / " if has_val else "")
        + f"test {len(data.test):,}"
    )
    echo(
        f"device: {device} | model: {cfg.model.name} ({params:,} parameters) | data: {data.name} {sizes}"
        f" | input {'x'.join(map(str, input_size))}"
    )
    if summary and start_epoch == 1:
        echo(summary)
    if start_epoch > 1:
        echo(f"resuming at epoch {start_epoch} of {cfg.train.epochs}")

    t_run = time.perf_counter()
    wall_before = history[-1]["wall_time_s"] if history else 0.0
    stopped_early = False
    # ---- the epochs -----------------------------------------------------------------------------
    for epoch in range(start_epoch, cfg.train.epochs + 1):
        torch.manual_seed(epoch_seed(cfg.run.seed, epoch, 0))
        aug_gen = torch.Generator().manual_seed(epoch_seed(cfg.run.seed, epoch, 2))
        train_loader.set_epoch(epoch)
        model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen, shown_loss = 0, float("nan")
        bar = _progress(len(train_loader), f"epoch {epoch}/{cfg.train.epochs}", cfg.run.progress)
        optimizer.zero_grad(set_to_none=True)
        for step, (xb, yb) in enumerate(train_loader, start=1):
            x, target = train_tf(xb, yb, aug_gen)
            if cfg.train.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                logits = forward_model(x)
                loss = loss_fn(logits.float(), target)
            scaler.scale(loss / cfg.train.accumulate).backward()
            last_in_group = step % cfg.train.accumulate == 0 or step == len(train_loader)
            if last_in_group:
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
            correct += (logits.detach().argmax(1) == yb).sum()
            if step % 20 == 0 or step == len(train_loader):
                shown_loss = loss_sum.item() / seen
                if not math.isfinite(shown_loss):
                    bar.close()
                    raise TrainingDiverged(
                        f"loss became {shown_loss} at epoch {epoch}, step {step}; "
                        f"kept the last good checkpoint in {run_dir} (epoch {epoch - 1}). "
                        "Lower optim.lr or set train.grad_clip, then resume or restart"
                    )
                rate = seen / max(1e-9, time.perf_counter() - t0)
                bar.set_postfix(
                    loss=f"{shown_loss:.4f}",
                    acc=f"{100 * correct.item() / seen:.2f}",
                    lr=f"{optimizer.param_groups[0]['lr']:.2e}",
                    ips=f"{rate:,.0f}",
                    refresh=False,
                )
            bar.update(1)
        bar.close()
        train_time = time.perf_counter() - t0
        train_metrics = {
            "loss": loss_sum.item() / seen,
            "acc": correct.item() / seen,
            "images_per_s": seen / train_time,
            "time_s": train_time,
        }

        eval_model = ema.module if ema is not None else model
        record: dict[str, Any] = {
            "epoch": epoch,
            "lr": optimizer.param_groups[0]["lr"],
            "train": train_metrics,
        }
        t1 = time.perf_counter()
        for split, loader in eval_loaders.items():
            record[split] = evaluate(
                eval_model,
                loader,
                eval_tf,
                data.num_classes,
                amp=amp,
                channels_last=cfg.train.channels_last,
                topk=cfg.train.topk,
            )
        record["eval_time_s"] = time.perf_counter() - t1
        record["wall_time_s"] = wall_before + time.perf_counter() - t_run

        split, _, key = monitor.partition("/")
        value = record[split][key]
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
        }
        if improved:
            save_checkpoint(state, run_dir / rundir.BEST)
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

        parts = [
            f"epoch {epoch:>{len(str(cfg.train.epochs))}}/{cfg.train.epochs}",
            f"train loss {train_metrics['loss']:.4f} acc {100 * train_metrics['acc']:.2f}%",
        ]
        for split in eval_loaders:
            parts.append(f"{split} loss {record[split]['loss']:.4f} acc {100 * record[split]['acc']:.2f}%")
        parts.append(f"lr {record['lr']:.2e}")
        parts.append(f"{train_time:.1f}s ({train_metrics['images_per_s']:,.0f} img/s)")
        echo(" | ".join(parts) + (" *" if improved else ""))

        if cfg.train.early_stopping > 0 and bad_epochs >= cfg.train.early_stopping:
            echo(
                f"early stopping: {monitor} has not improved for {bad_epochs} epochs (best {best_value:.4f} "
                f"at epoch {best_epoch})"
            )
            stopped_early = True
            break

    if writer is not None:
        writer.close()
    results = summarize_history(history, params, monitor, best_epoch)
    results.update(
        run_dir=str(run_dir),
        stopped_early=stopped_early,
        model=cfg.model.name,
        dataset=data.name,
        environment=environment(),
    )
    rundir.write_json(run_dir / rundir.RESULTS, results)
    echo(rundir.results_block(results))
    return RunResult(run_dir=run_dir, results=results, history=history)


def summarize_history(
    history: list[dict[str, Any]], params: int, monitor: str, best_epoch: int | None
) -> dict:
    """Best figures of a run (1-based epochs), as in seed 001's results block."""

    def best(split: str) -> tuple[float | None, int | None]:
        rows = [(r[split]["acc"], r["epoch"]) for r in history if split in r]
        if not rows:
            return None, None
        acc = max(a for a, _ in rows)
        return acc, next(e for a, e in rows if a == acc)

    train_acc, train_epoch = best("train")
    val_acc, val_epoch = best("val")
    test_acc, test_epoch = best("test")
    selected = next((r for r in history if r["epoch"] == best_epoch), None)
    return {
        "params": params,
        "best_train_acc": train_acc,
        "best_train_epoch": train_epoch,
        "best_val_acc": val_acc,
        "best_val_epoch": val_epoch,
        "best_test_acc": test_acc,
        "best_test_epoch": test_epoch,
        "final_test_acc": history[-1]["test"]["acc"],
        "monitor": monitor,
        "selected_epoch": best_epoch,
        "selected_test_acc": selected["test"]["acc"] if selected else None,
        "epochs_run": len(history),
        "wall_time_s": history[-1]["wall_time_s"],
        "train_time_s": sum(r["train"]["time_s"] for r in history),
        "mean_images_per_s": sum(r["train"]["images_per_s"] for r in history) / len(history),
    }


def _version() -> str:
    from archlab import __version__

    return __version__
