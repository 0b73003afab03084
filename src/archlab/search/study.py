"""The Optuna study behind a search: storage, sampler, pruner, and the worker loop.

A worker asks Optuna for a candidate, measures it against the budget (an infeasible one is
told as pruned, marked ``infeasible``, and does not count), claims one of the ``trials`` slots,
trains it as an ordinary run with the pruning callback, and tells Optuna the result. Several
workers — processes on one machine, or machines sharing a database or a journal file — run
the same loop against one storage; the slot rule keeps the count exact: a feasible trial
trains only if fewer than ``trials`` feasible trials have a lower number.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from archlab.data.inputspec import InputSpec
from archlab.search.budget import InfeasibleStreak, measure
from archlab.search.searchdir import STUDY_NAME, SearchDir
from archlab.search.space import grid, sample
from archlab.search.spec import SearchSpec
from archlab.train.callbacks import Callback, RunState

FEASIBLE = "feasible"  # user attribute: the candidate passed the budget and claims a slot
SLOT_WAIT_S = 30.0  # how long a worker waits for lower-numbered trials to be judged


class SearchStopped(RuntimeError):
    """Too many infeasible candidates in a row: the budget binds (the message says which)."""


def storage_for(url: str):
    """An Optuna storage: ``sqlite:///…``, ``postgresql://…`` (any SQLAlchemy URL) or ``journal:PATH``."""
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def make_sampler(spec: SearchSpec, seed: int) -> optuna.samplers.BaseSampler:
    s = spec.settings
    if s.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s.sampler == "grid":
        return AskTellGrid(grid(spec.space), seed=seed)
    if s.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if s.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=s.startup_trials)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=s.startup_trials)


class AskTellGrid(optuna.samplers.GridSampler):
    """Optuna's grid sampler for an ask-and-tell loop: the worker, not ``study.stop()``, ends the grid."""

    def after_trial(self, study, trial, state, values) -> None:  # noqa: D102 - see the class
        return None

    def size(self) -> int:
        return len(self._all_grids)


def make_pruner(spec: SearchSpec) -> optuna.pruners.BasePruner:
    s = spec.settings
    if s.pruner == "none" or spec.multi:  # Optuna prunes single-objective studies only
        return optuna.pruners.NopPruner()
    if s.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, s.warmup_epochs))
    if s.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, s.warmup_epochs))
    return optuna.pruners.MedianPruner(n_startup_trials=s.startup_trials, n_warmup_steps=s.warmup_epochs)


def open_study(spec: SearchSpec, url: str, seed: int, create: bool) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # archlab prints its own line per trial
    directions = [o.direction for o in spec.objectives]
    storage = storage_for(url)
    sampler, pruner = make_sampler(spec, seed), make_pruner(spec)
    if create:
        return optuna.create_study(
            storage=storage, study_name=STUDY_NAME, directions=directions, sampler=sampler, pruner=pruner,
            load_if_exists=True,
        )  # fmt: skip
    return optuna.load_study(study_name=STUDY_NAME, storage=storage, sampler=sampler, pruner=pruner)


class OptunaPruning(Callback):
    """Report the monitored validation metric to the trial every epoch; stop the run when Optuna prunes it."""

    def __init__(self, trial: optuna.Trial, metric: str, pruner: str) -> None:
        self.trial, self.metric, self.pruner = trial, metric, pruner
        self.pruned = False

    def on_epoch_end(self, run: RunState, record: dict[str, Any]) -> bool:
        split, _, key = self.metric.partition("/")
        value = record[split][key]
        self.trial.report(value, record["epoch"])
        if self.trial.should_prune():
            self.pruned = True
            self.reason = (
                f"pruned at epoch {record['epoch']} by the {self.pruner} pruner ({self.metric} {value:.4f})"
            )
            return True
        return False


def trained(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts toward ``trials``: feasible, and finished or still training."""
    if not trial.user_attrs.get(FEASIBLE):
        return False
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def count_trained(study: optuna.Study, finished: bool = False) -> int:
    """Trials that count toward ``trials`` (``finished``: only those done training)."""
    trials = study.get_trials(deepcopy=False)
    return sum(trained(t) and not (finished and t.state == TrialState.RUNNING) for t in trials)


def claim_slot(study: optuna.Study, number: int, total: int) -> bool:
    """Whether trial ``number`` may train: fewer than ``total`` feasible trials with lower numbers.

    Lower-numbered trials still being judged (running, not yet marked feasible) are waited for,
    up to ``SLOT_WAIT_S``; after that they count as feasible (the count can only fall short, never over).
    """
    deadline = time.monotonic() + SLOT_WAIT_S
    while True:
        lower = [t for t in study.get_trials(deepcopy=False) if t.number < number]
        judging = [t for t in lower if t.state == TrialState.RUNNING and FEASIBLE not in t.user_attrs]
        if not judging or time.monotonic() > deadline:
            return sum(trained(t) for t in lower) + len(judging) < total
        time.sleep(0.05)


@dataclass
class Outcome:
    """What became of one candidate."""

    number: int
    state: str  # complete | pruned | infeasible | surplus
    values: dict[str, Any]


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Mark as failed the running trials of this machine whose worker process is gone (e.g. after ``kill -9``)."""
    host, failed = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("host") == host and not _alive(t.user_attrs.get("pid")):
            study._storage.set_trial_user_attr(t._trial_id, "killed", True)
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            failed.append(t.number)
    return failed


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    """One process's share of a search: ask, measure, claim, train, tell, until the trials are done."""

    def __init__(
        self, spec: SearchSpec, sd: SearchDir, url: str, data: InputSpec, extra: dict[str, Any], seed: int
    ):
        self.spec, self.sd, self.url, self.data, self.extra = spec, sd, url, data, extra
        self.study = open_study(spec, url, seed, create=False)
        self.streak = InfeasibleStreak()
        self.failed_in_a_row = 0
        self.costs = tuple(o.metric for o in spec.objectives if o.is_cost)

    def run(self, deadline: float | None, on_outcome=None) -> None:
        total = self.spec.settings.trials
        grid_size = self.study.sampler.size() if isinstance(self.study.sampler, AskTellGrid) else None
        while count_trained(self.study) < total and (deadline is None or time.time() < deadline):
            if grid_size is not None and len(self.study.get_trials(deepcopy=False)) >= grid_size:
                return  # every grid point has been drawn
            outcome = self.one(total)
            if on_outcome is not None:
                on_outcome(outcome)
            if outcome.state == "surplus":
                return

    def one(self, total: int) -> Outcome:
        trial = self.study.ask()
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        values = sample(trial, self.spec.space)
        seed = self.spec.settings.seed + trial.number
        name = self.sd.trial_name(trial.number)
        cfg = self.spec.trial_config(
            values,
            {**self.extra, "run.seed": seed, "run.name": name, "run.out_dir": str(self.sd.trials_dir)},
            input_size=self.data.input_size,
        )
        data = self.data.with_size(cfg.data.resize) if cfg.data.resize else self.data
        try:
            m = measure(cfg, data, self.spec.budget, wanted=self.costs)
        except ValueError as exc:  # a candidate the model code refuses (e.g. an impossible shape)
            return self.failed(trial, exc, 0.0)
        for key, value in m.values.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("judge_s", m.seconds)
        trial.set_user_attr("seed", seed)
        if not m.feasible:
            reason = m.reason(self.spec.budget)
            trial.set_user_attr("infeasible", reason)
            # Told as pruned with no value: TPE ranks such trials worst and learns to avoid the region
            # (a failed trial would be ignored); the "infeasible" attribute keeps it out of the count.
            self.study.tell(trial, state=TrialState.PRUNED)
            self.streak.add(m)
            if self.streak.count >= self.spec.settings.max_infeasible:
                raise SearchStopped(self.streak.message(self.spec.budget))
            return Outcome(trial.number, "infeasible", {"reason": reason, **m.values})
        self.streak.reset()
        trial.set_user_attr(FEASIBLE, True)
        if not claim_slot(self.study, trial.number, total):
            trial.set_user_attr(FEASIBLE, False)
            trial.set_user_attr("surplus", True)
            self.study.tell(trial, state=TrialState.FAIL)
            return Outcome(trial.number, "surplus", {})
        return self.train(trial, cfg, m.values)

    def failed(self, trial: optuna.Trial, exc: Exception, seconds: float) -> Outcome:
        """Record a candidate that could not be built or trained; stop after ``max_failed`` in a row."""
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        trial.set_user_attr("error", first)
        trial.set_user_attr("train_s", seconds)
        self.study.tell(trial, state=TrialState.FAIL)
        self.failed_in_a_row += 1
        if self.failed_in_a_row >= self.spec.settings.max_failed:
            raise SearchStopped(
                f"{self.failed_in_a_row} trials in a row failed to train; the last (trial {trial.number}): {first}"
            )
        return Outcome(trial.number, "failed", {"error": first})

    def train(self, trial: optuna.Trial, cfg, measured: dict[str, float]) -> Outcome:
        from archlab.train import TrainingDiverged, train

        pruning = OptunaPruning(trial, self.spec.monitor, self.spec.settings.pruner)
        hooks = [] if self.spec.multi else [pruning]
        trial.set_user_attr("run_dir", str(self.sd.trials_dir / cfg.run.name))
        t0 = time.perf_counter()
        try:
            result = train(cfg, callbacks=hooks, echo=_quiet)
        except (TrainingDiverged, ValueError) as exc:  # this candidate's own failure: record it, go on
            return self.failed(trial, exc, time.perf_counter() - t0)
        self.failed_in_a_row = 0
        trial.set_user_attr("train_s", time.perf_counter() - t0)
        trial.set_user_attr("epochs_run", result.results["epochs_run"])
        selected = next(r for r in result.history if r["epoch"] == result.results["selected_epoch"])
        objective = [
            measured[o.metric] if o.is_cost else selected[o.metric.split("/")[0]][o.metric.split("/")[1]]
            for o in self.spec.objectives
        ]
        trial.set_user_attr("selected_epoch", selected["epoch"])
        if pruning.pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
            return Outcome(trial.number, "pruned", {"epochs": result.results["epochs_run"], **measured})
        self.study.tell(trial, objective)
        return Outcome(trial.number, "complete", {"objective": objective, **measured})


def _quiet(_: str) -> None:
    pass
