"""archlab search end to end on digits: trials are runs, budgets prune the space, storage resumes and scales."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from archlab.rundir import load_run
from archlab.search import search
from archlab.search.searchdir import STUDY_NAME
from archlab.search.study import storage_for

pytestmark = pytest.mark.usefixtures("run_in_tmp")

FIXED = {
    "train.epochs": 2,
    "data.limit": 240,
    "data.val_split": 0.2,
    "run.summary": False,
    "run.threads": 1,
}


def write_search(path: Path, space=None, budget=None, search_settings=None, objectives=None) -> Path:
    doc = {
        "set": FIXED,
        "space": space
        or {
            "model.kwargs.width": {"int": [4, 12], "step": 4},
            "optim.lr": {"float": [0.02, 0.1], "log": True},
        },
        "objectives": objectives or {"val/acc": "max"},
        "budget": budget or {},
        "search": {"trials": 3, "seed": 0, "startup_trials": 2, **(search_settings or {})},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def trials_of(sd: Path) -> list[optuna.trial.FrozenTrial]:
    state = yaml.safe_load((sd / "search.yaml").read_text())
    return optuna.load_study(study_name=STUDY_NAME, storage=storage_for(state["storage"])).get_trials()


@pytest.mark.slow
def test_a_search_trains_runs_and_tests_the_best_once(run_in_tmp: Path) -> None:
    lines: list[str] = []
    result = search(write_search(run_in_tmp / "s.yaml"), echo=lines.append, progress=False)
    sd = result.path
    trials = trials_of(sd)
    assert len(trials) == 3 and result.results["trained"] == 3
    assert sum(line.startswith("trial ") for line in lines) == 3
    for t in trials:
        run = load_run(t.user_attrs["run_dir"])  # an ordinary run directory
        assert run.config["run"]["seed"] == t.user_attrs["seed"] == t.number
        assert run.config["train"]["eval_test"] is False
        assert all("test" not in r for r in run.history)  # the search never saw the test split
        assert run.config["model"]["kwargs"]["width"] == t.params["model.kwargs.width"]
    best = result.results["best"][0]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert best["values"]["val/acc"] == max(t.values[0] for t in complete)
    assert set(result.results["test"]) == {str(b["trial"]) for b in result.results["best"]}
    saved = json.loads((sd / "results.json").read_text())
    assert saved["test_note"].startswith("test metrics of the best trials, each evaluated once")
    best_cfg = yaml.safe_load((sd / "best.yaml").read_text())
    assert best_cfg["train"]["eval_test"] is True and best_cfg["run"]["seed"] == best["seed"]
    md = (sd / "report.md").read_text()
    assert "## Optimisation history" in md and "test acc (once)" in md and "## All trials" in md
    assert (sd / "report.html").is_file()


@pytest.mark.slow
def test_infeasible_candidates_cost_no_trial_and_stop_the_search(run_in_tmp: Path) -> None:
    path = write_search(
        run_in_tmp / "s.yaml",
        space={"model.kwargs.width": {"int": [16, 64], "step": 16}},
        budget={"params": 100},
        search_settings={"max_infeasible": 4},
    )
    lines: list[str] = []
    result = search(path, echo=lines.append, progress=False)
    trials = trials_of(result.path)
    assert len(trials) == 4 and result.results["trained"] == 0
    assert all(
        t.user_attrs["infeasible"].startswith("params ") and t.state == TrialState.PRUNED for t in trials
    )
    smallest = min(t.user_attrs["params"] for t in trials)
    assert result.results["stopped"] == (
        f"4 candidates in a row were over budget; params binds (4 of them): the smallest params drawn was "
        f"{smallest:,.0f} against a budget of 100. Narrow the space toward smaller models or raise budget.params"
    )
    assert result.results["median_infeasible_judge_s"] < 1.0
    assert not (result.path / "trials").exists()  # nothing trained


@pytest.mark.slow
def test_resume_keeps_finished_trials_and_fails_the_killed_one(run_in_tmp: Path) -> None:
    first = search(write_search(run_in_tmp / "s.yaml"), trials=2, progress=False, echo=lambda _: None)
    storage = storage_for(yaml.safe_load((first.path / "search.yaml").read_text())["storage"])
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    ghost = study.ask()  # a worker killed with -9 while training: running, its process gone
    ghost.set_user_attr("host", socket.gethostname())
    ghost.set_user_attr("pid", 2**22 + 12345)
    ghost.set_user_attr("feasible", True)
    done_before = {t.number: t.values for t in study.get_trials() if t.state == TrialState.COMPLETE}

    lines: list[str] = []
    resumed = search(resume=first.path, trials=3, progress=False, echo=lines.append)
    trials = {t.number: t for t in trials_of(first.path)}
    assert trials[ghost.number].state == TrialState.FAIL and trials[ghost.number].user_attrs["killed"]
    assert {n: trials[n].values for n in done_before} == done_before
    assert resumed.results["trained"] == 3 and resumed.results["counts"]["killed"] == 1
    assert any(f"marked failed (killed): {ghost.number}" in line for line in lines)


@pytest.mark.slow
def test_two_workers_finish_one_study_with_no_trial_lost_or_duplicated(run_in_tmp: Path) -> None:
    path = write_search(run_in_tmp / "s.yaml", search_settings={"trials": 4})
    result = search(path, workers=2, progress=False, echo=lambda _: None)
    trials = trials_of(result.path)
    counted = [
        t
        for t in trials
        if t.user_attrs.get("feasible") and t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    ]
    assert len(counted) == 4 and result.results["trained"] == 4
    assert len({t.number for t in trials}) == len(trials)
    run_dirs = [t.user_attrs["run_dir"] for t in counted]
    assert len(set(run_dirs)) == 4 and all(Path(d, "best.pt").is_file() for d in run_dirs)
    assert len({t.user_attrs["pid"] for t in counted}) == 2  # both workers trained
    assert sorted(os.listdir(result.path / "trials")) == sorted(Path(d).name for d in run_dirs)


@pytest.mark.slow
def test_two_objectives_give_a_pareto_front_in_a_journal_storage(run_in_tmp: Path) -> None:
    path = write_search(run_in_tmp / "s.yaml", objectives={"val/acc": "max", "macs": "min"})
    journal = run_in_tmp / "study.journal"
    result = search(path, storage=f"journal:{journal}", progress=False, echo=lambda _: None)
    assert journal.is_file() and not (result.path / "study.db").exists()
    trials = [t for t in trials_of(result.path) if t.state == TrialState.COMPLETE]
    front = {b["trial"] for b in result.results["best"]}

    def dominated(t) -> bool:
        return any(
            o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in trials
        )

    assert front == {t.number for t in trials if not dominated(t)}
    for t in trials:
        assert t.values[1] == t.user_attrs["macs"]  # the cost objective is archlab's MAC count
    assert "Pareto-optimal trials" in (result.path / "report.md").read_text()


@pytest.mark.slow
def test_trials_that_diverge_are_failed_and_stop_the_search(run_in_tmp: Path) -> None:
    path = write_search(
        run_in_tmp / "s.yaml",
        space={"optim.lr": {"float": [1.0e20, 1.0e30], "log": True}},
        search_settings={"max_failed": 2},
    )
    result = search(path, progress=False, echo=lambda _: None)
    trials = trials_of(result.path)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all(t.user_attrs["error"].startswith("loss became ") for t in trials)
    assert result.results["trained"] == 0 and result.results["stopped"].startswith(
        "2 trials in a row failed to train"
    )


def test_best_yaml_carries_its_architecture_file_and_builds_from_anywhere(
    run_in_tmp: Path, configs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archlab.config import Config, load_config
    from archlab.models import create_model
    from archlab.search.searchdir import SearchDir

    family = (configs_dir / "architectures" / "mnist_family.yaml").resolve()
    config = Config().to_dict()
    config["model"].update(name=str(family), kwargs={"w1": 6, "depth2": 1})
    sd = SearchDir(run_in_tmp / "searches" / "s")
    sd.path.mkdir(parents=True)
    best = sd.write_best(config, "the best trial")
    assert yaml.safe_load(best.read_text())["model"]["name"] == "architecture.yaml"
    assert (sd.path / "architecture.yaml").read_text() == family.read_text()
    (run_in_tmp / "elsewhere").mkdir()
    monkeypatch.chdir(run_in_tmp / "elsewhere")
    cfg = load_config(best)
    assert cfg.model.name == str((sd.path / "architecture.yaml").resolve())

    def params(model) -> int:
        return sum(p.numel() for p in model.parameters())

    copied = params(create_model(cfg.model.name, **cfg.model.kwargs))
    assert copied == params(create_model(str(family), w1=6, depth2=1)) != params(create_model(str(family)))
