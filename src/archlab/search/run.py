"""``archlab search``: start or resume a search, run its workers, then evaluate, export and report.

:func:`search` is the Python API behind the command. The search never sees the test split:
trials train with ``train.eval_test=false`` and select on validation (carved from train with
``data.val_split`` when the dataset has none); at the end the best trials are evaluated on test
once, and the report labels which split produced which number.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archlab.data.inputspec import InputSpec
from archlab.search.searchdir import SearchDir
from archlab.search.spec import SearchSpec, load_search, parse_search
from archlab.search.study import SearchStopped, Worker, count_trained, fail_stale_trials, open_study


@dataclass
class SearchResult:
    path: Path
    results: dict[str, Any]


def search(
    config: str | Path | None = None,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    workers: int = 1,
    storage: str | None = None,
    resume: str | Path | None = None,
    overrides: list[str] | None = None,
    out_dir: str | Path = "searches",
    name: str | None = None,
    echo: Callable[[str], None] = print,
    progress: bool = True,
) -> SearchResult:
    """Run (or resume) the search a search file describes; return its directory and results."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    sd, spec, state = _open(config, resume, storage, overrides, out_dir, name)
    if trials is not None or timeout is not None:
        spec = _with_settings(spec, trials, timeout)
        state["settings"] = {"trials": spec.settings.trials, "timeout": spec.settings.timeout}
    sd.write_search(state)
    study = open_study(spec, state["storage"], spec.settings.seed, create=True)
    killed = fail_stale_trials(study)
    done = count_trained(study)
    echo(f"search directory: {sd.path}")
    echo(
        f"study: {state['storage']} | {spec.settings.sampler} sampler, {spec.settings.pruner} pruner | "
        f"objectives {', '.join(f'{o.metric} ({o.direction})' for o in spec.objectives)} | "
        f"{done} of {spec.settings.trials} trials done"
        + (f" | marked failed (killed): {', '.join(map(str, killed))}" if killed else "")
    )
    deadline = time.time() + spec.settings.timeout if spec.settings.timeout else None
    from archlab.search.progress import Progress

    with Progress(study, spec, echo, enabled=progress) as bar:
        try:
            if workers == 1:
                _work(sd.path, deadline, 1, 0, bar.update)
            else:
                _spawn(sd.path, deadline, workers, bar)
        except SearchStopped as exc:
            stopped = str(exc)
        else:
            stopped = None
    if stopped:
        echo(f"search stopped: {stopped}")
    from archlab.search.finish import finish

    results = finish(sd, spec, study, echo, stopped=stopped)
    return SearchResult(sd.path, results)


def _open(config, resume, storage, overrides, out_dir, name) -> tuple[SearchDir, SearchSpec, dict[str, Any]]:
    if resume is not None:
        if config is not None:
            raise ValueError("--resume continues a search with its own file; drop --config")
        sd = SearchDir.for_resume(resume)
        state = sd.read_search()
        spec = spec_of(state, overrides)
        return sd, spec, state
    if config is None:
        raise ValueError(
            "archlab search needs --config FILE (e.g. configs/search/digits.yaml) or --resume DIR"
        )
    spec = load_search(config, overrides)
    data, has_val = _data_of(spec)
    sd = SearchDir.create(out_dir, name or Path(config).stem)
    state = {
        "source": str(config),
        "search": {k: v for k, v in spec.raw.items() if k != "base"},
        "base_config": spec.base,
        "set": spec.overrides,
        "storage": storage or sd.default_storage,
        "input": data.to_dict(),
        "has_val": has_val,
    }
    return sd, spec, state


def spec_of(state: dict[str, Any], overrides: list[str] | None = None) -> SearchSpec:
    """The search spec a search directory stored (base config inlined)."""
    raw = dict(state["search"])
    raw["set"] = dict(state.get("set") or {})
    spec = parse_search(raw, Path("."), state.get("source", "search.yaml"), overrides)
    spec.base = state["base_config"]
    settings = state.get("settings") or {}
    return _with_settings(spec, settings.get("trials"), settings.get("timeout")) if settings else spec


def _with_settings(spec: SearchSpec, trials: int | None, timeout: float | None) -> SearchSpec:
    from dataclasses import replace

    changes = {k: v for k, v in (("trials", trials), ("timeout", timeout)) if v is not None}
    if changes.get("trials", 1) < 1:
        raise ValueError(f"--trials must be at least 1, got {trials}")
    spec.settings = replace(spec.settings, **changes)
    return spec


def _data_of(spec: SearchSpec) -> tuple[InputSpec, bool]:
    """The dataset's input specification (bands, size, classes) and whether it has a validation split."""
    from archlab.data.datasets import load_dataset

    cfg = spec.trial_config({})
    data = load_dataset(cfg.data)
    return InputSpec.of_dataset(data, cfg.data.normalize), data.val is not None


def trial_extra(state: dict[str, Any], spec: SearchSpec, workers: int) -> dict[str, Any]:
    """Keys every trial gets: validation only, the monitor, quiet runs, a fair share of the cores."""
    extra: dict[str, Any] = {
        "train.eval_test": False,
        "train.monitor": spec.monitor,
        "run.report": False,
        "run.progress": False,
    }
    if not state["has_val"] and not spec.trial_config({}).data.val_split:
        extra["data.val_split"] = 0.1
    if spec.trial_config({}).run.threads == 0:
        extra["run.threads"] = max(1, (os.cpu_count() or 1) // workers)
    return extra


def _work(path: Path, deadline: float | None, workers: int, index: int, on_outcome=None) -> None:
    """One worker: read the search directory, then ask-measure-train-tell until done."""
    sd = SearchDir(path)
    state = sd.read_search()
    spec = spec_of(state)
    extra = trial_extra(state, spec, workers)
    worker = Worker(
        spec, sd, state["storage"], InputSpec.from_dict(state["input"]), extra, spec.settings.seed + index
    )
    worker.run(deadline, on_outcome)


def _worker_main(path: str, deadline: float | None, workers: int, index: int, errors) -> None:
    try:
        _work(Path(path), deadline, workers, index)
    except SearchStopped as exc:
        errors.put(("stopped", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        errors.put(("failed", f"{type(exc).__name__}: {exc}"))


def _spawn(path: Path, deadline: float | None, workers: int, bar) -> None:
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=_worker_main, args=(str(path), deadline, workers, i, errors))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            bar.update()
            time.sleep(1.0)
    finally:
        for p in procs:
            p.join()
    bar.update()
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    failed = [m for kind, m in messages if kind == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} worker(s) failed; first: {failed[0]}")
    if messages:
        raise SearchStopped(messages[0][1])
