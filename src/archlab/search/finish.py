"""The end of a search: the best trials evaluated on test once, the best config exported, results written."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from archlab.search.progress import state_of
from archlab.search.searchdir import SearchDir
from archlab.search.spec import SearchSpec


def best_trials(study: optuna.Study, spec: SearchSpec) -> list[optuna.trial.FrozenTrial]:
    """Single objective: the ``test_top`` best complete trials; several: the Pareto front."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not complete:
        return []
    if spec.multi:
        return sorted(study.best_trials, key=lambda t: t.number)
    reverse = spec.objectives[0].direction == "maximize"
    return sorted(complete, key=lambda t: t.values[0], reverse=reverse)[: max(1, spec.settings.test_top)]


def finish(
    sd: SearchDir,
    spec: SearchSpec,
    study: optuna.Study,
    echo: Callable[[str], None],
    stopped: str | None = None,
) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    states = [state_of(t) for t in trials]
    counts = {s: states.count(s) for s in ("complete", "pruned", "infeasible", "failed", "killed", "surplus")}
    judge = [
        t.user_attrs["judge_s"] for t in trials if state_of(t) == "infeasible" and "judge_s" in t.user_attrs
    ]
    previous = sd.read_results().get("test", {})
    tested: dict[str, Any] = {}
    best = best_trials(study, spec)
    for t in best:
        key = str(t.number)
        if key in previous:  # evaluated once already (a resumed search): never again
            tested[key] = previous[key]
            continue
        from archlab.train.evaluate import evaluate_run

        metrics = evaluate_run(t.user_attrs["run_dir"], "test")
        tested[key] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    results: dict[str, Any] = {
        "trials": len(trials),
        "counts": counts,
        "trained": counts["complete"] + counts["pruned"],
        "objectives": {o.metric: o.direction for o in spec.objectives},
        "median_infeasible_judge_s": statistics.median(judge) if judge else None,
        "wall_s": _wall(trials),
        "best": [
            {
                "trial": t.number,
                "values": dict(zip([o.metric for o in spec.objectives], t.values)),
                "params": t.params,
                "params_count": t.user_attrs.get("params"),
                "macs": t.user_attrs.get("macs"),
                "run_dir": t.user_attrs.get("run_dir"),
                "seed": t.user_attrs.get("seed"),
            }
            for t in best
        ],
        "test": tested,
        "test_note": "test metrics of the best trials, each evaluated once after the search; "
        "every other figure is on the validation split",
        "stopped": stopped,
    }
    if best:
        results["best_config"] = str(export_best(sd, spec, best[0]))
    if best and spec.compound is not None and "compound" in best[0].params:
        from archlab.search.compound import scaling_table

        data = sd.read_search()["input"]
        label = best[0].params["compound"]
        cfg = spec.trial_config({})
        rows = scaling_table(cfg.model.name, label, tuple(data["input_size"]), len(data["classes"]))
        results["compound"] = {"label": label, "rows": rows}
    sd.write_results(results)
    from archlab.search.report import write_search_report

    md, html = write_search_report(sd, spec, study, results)
    echo(_summary(results, spec))
    echo(f"report: {html}")
    return results


def export_best(sd: SearchDir, spec: SearchSpec, trial: optuna.trial.FrozenTrial) -> Path:
    """``best.yaml``: the trial's own resolved config, evaluating test again, for ``archlab train --config``."""
    from archlab.rundir import RunDir

    config = RunDir(trial.user_attrs["run_dir"]).read_config()
    config["train"]["eval_test"] = True
    config["run"].update(name=None, out_dir="runs", report=True, progress=True)
    values = ", ".join(f"{k}={v}" for k, v in trial.params.items())
    header = (
        f"The best trial ({trial.number}) of the search in {sd.path}: {values}.\n"
        f"Reproduce it with: archlab train --config {sd.path / 'best.yaml'}"
    )
    return sd.write_best(config, header)


def _wall(trials: list[optuna.trial.FrozenTrial]) -> float | None:
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else None


def _summary(results: dict[str, Any], spec: SearchSpec) -> str:
    c = results["counts"]
    lines = [
        "===================",
        "Search:",
        f"Trials trained: {results['trained']} ({c['complete']} complete, {c['pruned']} pruned); "
        f"infeasible: {c['infeasible']}; failed: {c['failed'] + c['killed']}",
    ]
    if results["median_infeasible_judge_s"] is not None:
        lines.append(
            f"Median time to judge an infeasible candidate: {1000 * results['median_infeasible_judge_s']:.0f} ms"
        )
    for b in results["best"][:3]:
        vals = ", ".join(f"{k} {v:.4g}" for k, v in b["values"].items())
        test = results["test"].get(str(b["trial"]), {})
        key = spec.monitor.split("/")[1]
        shown = f" | test {key} {test[key]:.4f} (once)" if key in test else ""
        lines.append(f"Trial {b['trial']}: {vals} (validation){shown}")
    if results["wall_s"] is not None:
        lines.append(f"Wall time: {results['wall_s']:.1f} s")
    lines.append("===================")
    return "\n".join(lines)
