"""The training engine behind ``archlab train`` and :func:`archlab.train`.

:func:`train` reads top to bottom: resolve the config, build the run's parts
(:mod:`~archlab.train.build`), open its directory (:mod:`archlab.rundir`), then per epoch
train (:func:`~archlab.train.loop.train_one_epoch`), evaluate, record, checkpoint and ask
the callbacks (:mod:`~archlab.train.callbacks`) whether to go on. Single-label and
multi-label tasks share it; the dataset says which.

A run killed mid-epoch and resumed from ``last.pt`` ends with the same metrics as an
uninterrupted run (on CPU in deterministic mode). SIGTERM (a cluster's preemption) and
Ctrl-C end with :class:`RunInterrupted`: one line naming where the run stopped, what
each checkpoint holds and the command that resumes it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archlab.config import Config, build_config, load_config
from archlab.rundir import RunDir
from archlab.train import callbacks as cbs
from archlab.train.build import Parts, build_run, main_metric
from archlab.train.distributed import init_from_env
from archlab.train.loop import Position, evaluate_epoch, train_one_epoch
from archlab.train.recording import epoch_line, results_block, stage_results, summarize_history
from archlab.train.setup import environment, resolve_device, seed_everything, set_determinism
from archlab.train.state import TrainState, best_payload, last_payload, resume


class OutOfMemory(RuntimeError):
    """A training or evaluation step ran out of device memory; ``str()`` says so and how to size the batch."""


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's ``OutOfMemoryError``, or the CPU allocator's failure (its wording varies by platform)."""
    text = str(exc)
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError)
        and any(s in text for s in ("can't allocate memory", "not enough memory", "out of memory"))
    )


def out_of_memory_message(cfg: Config, device: Any, exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    if getattr(device, "type", "") == "cuda":
        total = f"{torch.cuda.get_device_properties(device).total_memory / 1e9:.0f}GB"
    else:
        total = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1e9:.0f}GB"
    return (
        f"out of memory training {cfg.model.name} at batch {cfg.data.batch_size} on {device} ({first[:160]}); "
        f"lower data.batch_size, or find the largest batch that fits with: "
        f"archlab summary CONFIG --fit {total} (CONFIG: this run's config file)"
    )


class RunInterrupted(Exception):
    """SIGTERM or Ctrl-C stopped the run; ``str()`` says where, and how to resume it."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    results: dict[str, Any]
    history: list[dict[str, Any]]
    model: nn.Module | None = None  # the trained model (EMA weights when train.ema > 0), in eval mode


def train(
    cfg: Config | dict | str | Path | None = None,
    *,
    overrides: list[str] | None = None,
    resume: str | Path | None = None,
    callbacks: list[Any] | None = None,
    echo: Callable[[str], None] = print,
) -> RunResult:
    """Train a model as ``cfg`` describes; return the run directory, results and history.

    ``cfg`` is a :class:`Config`, a nested dict, a YAML path, or ``None`` for the embedded
    default (the small CNN on scikit-learn's digits). ``resume`` is a run directory: its
    config (plus ``overrides``) and ``last.pt`` continue the run. ``callbacks`` are called
    after every epoch (see :mod:`archlab.train.callbacks`), after the config's own.
    """
    cfg, run_dir = _resolve_config(cfg, overrides, resume)
    device = resolve_device(cfg.run.device)
    ctx = init_from_env(device.type)
    device = ctx.device(device)
    echo = echo if ctx.is_main else _silent
    _seed_and_threads(cfg)
    hooks = (cbs.default_callbacks(cfg) + list(callbacks or [])) if ctx.is_main else []
    parts = build_run(cfg, device, ctx)
    state = TrainState() if run_dir is None else resume_state(parts, run_dir)
    run_dir = run_dir or _new_run_dir(parts)
    run = cbs.RunState(cfg, run_dir, parts.epochs, parts.monitor, parts.monitor_mode, parts.eval_model, echo)
    run.params = parts.params
    _announce(parts, run_dir, state, echo)
    cbs.call(hooks, "on_train_start", run)

    position, stopped_by, t_run = Position(), None, time.perf_counter() - state.wall_before
    with _signals_as_exceptions():
        try:
            for epoch in range(state.start_epoch, parts.epochs + 1):
                _announce_stage(parts, epoch, echo)
                kept = _kept(run_dir, state)
                metrics = train_one_epoch(parts, epoch, position, kept)
                record = {
                    "epoch": epoch,
                    "lr": float(parts.optimizer.param_groups[0]["lr"]),
                    "train": metrics,
                }
                improved = record_epoch(parts, state, record, run_dir, t_run)
                echo(
                    epoch_line(record, parts.epochs, main_metric(parts.task), list(parts.eval_loaders))
                    + (" *" if improved else "")
                )
                _sync(run, state, epoch)
                stoppers = cbs.call(hooks, "on_epoch_end", run, record)
                if ctx.broadcast(bool(stoppers)):
                    stopped_by = stoppers[0] if stoppers else "another rank"
                    echo(
                        getattr(stopped_by, "reason", "")
                        or f"stopped by {cbs.callback_name(stopped_by)} at epoch {epoch}"
                    )
                    break
        except _Stop as stop:
            raise RunInterrupted(
                interrupted_message(stop.signum, position, run_dir, state), stop.signum
            ) from None
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            raise OutOfMemory(out_of_memory_message(cfg, device, exc)) from exc

    results = finish(parts, state, run_dir, stopped_by)
    cbs.call(hooks, "on_train_end", run, results)
    echo(results_block(results))
    ctx.barrier()
    ctx.close()
    return RunResult(
        run_dir=run_dir.path, results=results, history=state.history, model=parts.eval_model.eval()
    )


def record_epoch(
    parts: Parts, state: TrainState, record: dict[str, Any], run_dir: RunDir, t_run: float
) -> bool:
    """Evaluate, complete ``record``, step the schedule, save the checkpoints and metrics; whether it improved."""
    if len(parts.stages) > 1:
        from archlab.train.curriculum import stage_of

        stage = stage_of(parts.stages, record["epoch"])
        record["stage"] = {"index": stage.index, "name": stage.name, "classes": stage.classes}
    t1 = time.perf_counter()
    metrics, thresholds = evaluate_epoch(parts)
    record.update(metrics)
    record["eval_time_s"] = time.perf_counter() - t1
    record["wall_time_s"] = time.perf_counter() - t_run  # t_run is moved back by a resumed run's wall time
    value = monitored_value(parts.monitor, record)
    improved = state.observe(value, record["epoch"], parts.monitor_mode)
    if parts.scheduler is not None and parts.sched_interval == "epoch":
        parts.scheduler.step()
    elif parts.scheduler is not None and parts.sched_interval == "plateau":
        parts.scheduler.step(value)
    state.history.append(record)
    if parts.ctx.is_main:
        best = best_payload(parts, record, thresholds)
        if improved:
            run_dir.save_checkpoint("best", best)
        run_dir.save_checkpoint("last", last_payload(best, parts, state))
        run_dir.write_metrics(state.history)
    return improved


def monitored_value(monitor: str, record: dict[str, Any]) -> float:
    split, _, key = monitor.partition("/")
    if key not in record[split]:
        raise ValueError(
            f"train.monitor {monitor!r}: the {split} metrics have no {key!r}; "
            f"choose one of {sorted(k for k, v in record[split].items() if isinstance(v, float))}"
        )
    return record[split][key]


def finish(parts: Parts, state: TrainState, run_dir: RunDir, stopped_by: Any) -> dict[str, Any]:
    """The run's results (best figures, what stopped it, the environment), written to results.json."""
    results = summarize_history(state.history, parts.params, parts.monitor, state.best_epoch, parts.task)
    results.update(
        run_dir=str(run_dir.path),
        stopped_early=stopped_by is not None,
        model=parts.cfg.model.name,
        dataset=parts.data.name,
        task=parts.task,
        loss=parts.loss_info,
        skipped_samples=len(parts.data.skipped),
        environment=environment(parts.device),
        world_size=parts.ctx.world,
        epochs_planned=parts.epochs,
    )
    if stopped_by is not None:
        results["stopped_by"] = stopped_by if isinstance(stopped_by, str) else cbs.callback_name(stopped_by)
        if getattr(stopped_by, "reason", ""):
            results["stop_reason"] = stopped_by.reason
    if len(parts.stages) > 1:
        results["stages"] = stage_results(state.history, parts.stages, main_metric(parts.task))
    if parts.ctx.is_main:
        run_dir.write_results(results)
    return results


def resume_state(parts: Parts, run_dir: RunDir) -> TrainState:
    return resume(parts, run_dir.load_checkpoint("last"))


# ---- the small steps around the loop ----------------------------------------------------------------


def _resolve_config(cfg, overrides, resume_dir) -> tuple[Config, RunDir | None]:
    if resume_dir is not None:
        run_dir = RunDir.for_resume(resume_dir)
        return load_config(run_dir.path / "config.yaml", overrides), run_dir
    if isinstance(cfg, Config):
        return build_config(cfg.to_dict(), overrides), None
    if isinstance(cfg, dict):
        return build_config(cfg, overrides), None
    return load_config(cfg, overrides), None


def _seed_and_threads(cfg: Config) -> None:
    import torch

    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    set_determinism(cfg.run.deterministic)
    seed_everything(cfg.run.seed)


def _new_run_dir(parts: Parts) -> RunDir:
    """Create the run directory (on rank 0, shared with the others) and write the config, summary, sampler."""
    cfg, ctx = parts.cfg, parts.ctx
    run_dir = None
    if ctx.is_main:
        run_dir = RunDir.create(cfg.run.out_dir, cfg.run.name, Path(cfg.model.name).stem, cfg.data.name)
        run_dir.write_config(cfg.to_dict())
        if parts.summary:
            run_dir.write_summary(parts.summary)
        effect = parts.sampler_effect()
        if effect is not None:
            run_dir.write_sampler(effect)
    return RunDir(ctx.broadcast(None if run_dir is None else str(run_dir.path)))


def _announce(parts: Parts, run_dir: RunDir, state: TrainState, echo: Callable[[str], None]) -> None:
    cfg, data = parts.cfg, parts.data
    echo(f"run directory: {run_dir.path}")
    sizes = " / ".join(
        f"{n} {len(s):,}"
        for n, s in (("train", data.train), ("val", data.val), ("test", data.test))
        if s is not None
    )
    echo(
        f"device: {parts.device} | model: {cfg.model.name} ({parts.params:,} parameters) | data: {data.name} {sizes} "
        f"| input {'x'.join(map(str, parts.spec.input_size))} | {parts.task.replace('_', '-')}, loss {parts.loss_info['loss']}"
    )
    for note in parts.notes:
        echo(f"note: {note}")
    if data.skipped:
        echo(f"skipped {len(data.skipped)} bad samples (data.on_error=skip); first: {data.skipped[0]}")
    if parts.summary and state.start_epoch == 1:
        echo(parts.summary)
    if state.start_epoch > 1:
        echo(f"resuming at epoch {state.start_epoch} of {parts.epochs}")


def _announce_stage(parts: Parts, epoch: int, echo: Callable[[str], None]) -> None:
    from archlab.train.curriculum import stage_of

    stage = stage_of(parts.stages, epoch)
    if len(parts.stages) > 1 and epoch == stage.first_epoch:
        n = parts.train_loaders[stage.index].loader.num_samples
        echo(
            f"curriculum stage {stage.index + 1}/{len(parts.stages)}: {stage.name} "
            f"({n:,} training samples, epochs {stage.first_epoch}-{stage.last_epoch})"
        )


def _sync(run: cbs.RunState, state: TrainState, epoch: int) -> None:
    run.epoch, run.history = epoch, state.history
    run.best_value, run.best_epoch, run.bad_epochs = state.best_value, state.best_epoch, state.bad_epochs


def _kept(run_dir: RunDir, state: TrainState) -> str:
    if not state.history:
        return f"no epoch finished, so {run_dir.path} holds no checkpoint"
    return f"kept the last good checkpoint in {run_dir.path} (epoch {state.history[-1]['epoch']})"


def interrupted_message(signum: int, position: Position, run_dir: RunDir, state: TrainState) -> str:
    """One line: what stopped the run and where, what each checkpoint holds, the command that resumes it."""
    what = (
        "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C" if signum == signal.SIGINT else f"signal {signum}"
    )
    done = state.history[-1]["epoch"] if state.history else 0
    if position.epoch > done:
        where = f"during epoch {position.epoch} (step {position.step} of {position.steps})"
    else:
        where = f"after epoch {done}" if done else "before the first epoch"
    if not state.history:
        return f"stopped by {what} {where}; no epoch finished, so {run_dir.path} holds no checkpoint: start the run again"
    last = state.history[-1]["epoch"]
    best = ""
    if state.best_epoch is not None:
        best = f", best.pt holds epoch {state.best_epoch} ({state.best_value:.4f})"
    return (
        f"stopped by {what} {where}; last.pt holds epoch {last}{best}; "
        f"resume at epoch {last + 1} with: archlab train --resume {run_dir.path}"
    )


class _Stop(BaseException):
    """Raised in the main thread by the SIGTERM/SIGINT handler."""

    def __init__(self, signum: int) -> None:
        self.signum = signum


@contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`_Stop` for the loop's duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise _Stop(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _silent(_: str) -> None:
    pass
