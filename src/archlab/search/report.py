"""The search report: Markdown and self-contained HTML, with the trial table, the optimisation
history, the Pareto fronts (metric vs parameters and vs MACs), parameter importances and the best
architecture's summary. Every number says which split it comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from archlab.report.doc import Doc
from archlab.report.plots import _figure, _png
from archlab.search.progress import state_of
from archlab.search.searchdir import SearchDir
from archlab.search.spec import SearchSpec

COLORS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "best": "#d62728"}


def write_search_report(sd: SearchDir, spec: SearchSpec, study: optuna.Study, results: dict[str, Any]):
    return sd.write_report(build_search_doc(sd, spec, study, results))


def build_search_doc(sd: SearchDir, spec: SearchSpec, study: optuna.Study, results: dict[str, Any]) -> Doc:
    trials = study.get_trials(deepcopy=False)
    metric = spec.monitor
    doc = Doc(f"Search report: {Path(sd.path).name}")
    c = results["counts"]
    doc.meta(
        f"{results['trained']} trials trained ({c['complete']} complete, {c['pruned']} pruned), "
        f"{c['infeasible']} infeasible, {c['failed'] + c['killed']} failed · sampler {spec.settings.sampler}, "
        f"pruner {spec.settings.pruner} · objectives "
        + ", ".join(f"{o.metric} ({o.direction})" for o in spec.objectives)
    )
    doc.p(
        "Every trial trained on the training split and was selected and pruned on the **validation** "
        "split; it never saw the test split. The best trials were evaluated on **test once**, after the "
        "search; those figures are marked *test (once)*."
    )
    if results.get("stopped"):
        doc.p(f"The search stopped early: {results['stopped']}")
    _best_section(doc, spec, results)
    _budget_section(doc, spec, results, trials)
    history = history_plot(trials, spec)
    if history:
        doc.h2("Optimisation history")
        doc.image("history.png", history, f"{metric} of each trained trial (validation) and the best so far")
    fronts = [(k, pareto_plot(trials, spec, k)) for k in ("params", "macs")]
    if any(png for _, png in fronts):
        doc.h2("Pareto fronts")
        for key, png in fronts:
            if png:
                doc.image(f"pareto_{key}.png", png, f"{metric} (validation) against {key}; the front in red")
    _compound_section(doc, spec, trials, results)
    _importance_section(doc, study, spec)
    _trial_table(doc, trials, spec)
    _best_architecture(doc, results)
    doc.h2("Reproduce and browse")
    lines = []
    if results.get("best_config"):
        lines.append(f"archlab train --config {results['best_config']}")
    lines.append(f"optuna-dashboard {study_url(sd)}")
    doc.code("\n".join(lines), "sh")
    return doc


def study_url(sd: SearchDir) -> str:
    return str(sd.read_search().get("storage", sd.default_storage))


def _best_section(doc: Doc, spec: SearchSpec, results: dict[str, Any]) -> None:
    if not results["best"]:
        doc.p("No trial completed.")
        return
    doc.h2("Best trials" if not spec.multi else "Pareto-optimal trials")
    key = spec.monitor.split("/")[1]
    rows = []
    for b in results["best"]:
        test = results["test"].get(str(b["trial"]), {})
        rows.append(
            [b["trial"]]
            + [_fmt(v) for v in b["values"].values()]
            + [_fmt(test.get(key)), _fmt(b["params_count"]), _fmt(b["macs"]), _params(b["params"])]
        )
    doc.table(
        [
            "trial",
            *[f"{m} (validation)" if "/" in m else m for m in b["values"]],
            f"test {key} (once)",
            "params",
            "MACs",
            "sampled",
        ],
        rows,
    )


def _budget_section(doc: Doc, spec: SearchSpec, results: dict[str, Any], trials) -> None:
    limits = spec.budget.limits()
    if not limits:
        return
    doc.h2("Budget")
    judged = results.get("median_infeasible_judge_s")
    doc.p(
        ", ".join(f"{k} ≤ {_fmt(v)}" for k, v in limits.items())
        + f". {results['counts']['infeasible']} candidates were over budget and were not trained"
        + (f"; judging one took {1000 * judged:.0f} ms (median)." if judged is not None else ".")
    )


def _importance_section(doc: Doc, study: optuna.Study, spec: SearchSpec) -> None:
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(complete) < 3 or not any(t.params for t in complete):
        return
    try:
        index = [o.metric for o in spec.objectives].index(spec.monitor)
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        importances = optuna.importance.get_param_importances(
            study, evaluator=evaluator, target=lambda t: t.values[index]
        )
    except (RuntimeError, ValueError) as exc:
        doc.foot(f"Parameter importances unavailable: {exc}")
        return
    doc.h2("Parameter importances")
    doc.p(
        f"fANOVA importance of each searched key for {spec.monitor} (validation), over the complete trials."
    )
    doc.table(["key", "importance"], [[k, f"{v:.3f}"] for k, v in importances.items()])


def _compound_section(doc: Doc, spec: SearchSpec, trials, results: dict[str, Any]) -> None:
    if spec.compound is None:
        return
    from archlab.search.compound import parse

    doc.h2("Compound scaling")
    c = spec.compound
    doc.p(
        f"Depth × α^φ, width × β^φ, resolution × γ^φ at φ = {c.phi:g}, over the grid points with "
        f"|α·β²·γ² − {c.target:g}| ≤ {c.tolerance:g} (seed 004 reports α = 1.2, β = 1.1, γ = 1.15)."
    )
    rows = []
    for t in _trained(trials):
        if "compound" in t.params:
            a, b, g = parse(t.params["compound"])
            rows.append(
                [
                    t.number,
                    a,
                    b,
                    g,
                    f"{a * b * b * g * g:.3f}",
                    _fmt(_value(t, spec)),
                    _fmt(t.user_attrs.get("macs")),
                ]
            )
    rows.sort(key=lambda r: -float(r[5]) if r[5] != "-" else 0)
    doc.table(["trial", "α", "β", "γ", "α·β²·γ²", f"{spec.monitor} (validation)", "MACs"], rows)
    scaling = results.get("compound")
    if scaling:
        doc.h3(f"Scaling the base network with the best coefficients ({scaling['label']})")
        doc.p("MACs archlab counts for each φ, against the ratio the rule predicts, (α·β²·γ²)^φ, and 2^φ.")
        doc.table(
            ["φ", "input", "params", "MACs", "measured ratio", "predicted (α·β²·γ²)^φ", "2^φ"],
            [
                [r["phi"], "×".join(map(str, r["input"])), _fmt(r["params"]), _fmt(r["macs"]),
                 f"{r['measured_ratio']:.3f}", f"{r['predicted_ratio']:.3f}", f"{r['rule_ratio']:.0f}"]
                for r in scaling["rows"]
            ],
        )  # fmt: skip


def _trial_table(doc: Doc, trials, spec: SearchSpec) -> None:
    doc.h2("All trials")
    keys = sorted({k for t in trials for k in t.params})
    rows = []
    for t in trials:
        a = t.user_attrs
        value = t.values[[o.metric for o in spec.objectives].index(spec.monitor)] if t.values else None
        if value is None and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        rows.append(
            [
                t.number,
                state_of(t),
                _fmt(value),
                a.get("epochs_run", "-"),
                _fmt(a.get("params")),
                _fmt(a.get("macs")),
            ]
            + [_fmt(t.params.get(k)) for k in keys]
            + [f"{a['train_s']:.1f}" if "train_s" in a else f"{a.get('judge_s', 0):.2f}"]
        )
    doc.table(
        ["trial", "state", f"{spec.monitor} (validation)", "epochs", "params", "MACs", *keys, "seconds"], rows
    )


def _best_architecture(doc: Doc, results: dict[str, Any]) -> None:
    if not results["best"]:
        return
    run_dir = results["best"][0]["run_dir"]
    from archlab.rundir import RunDir

    summary = RunDir(run_dir).read_summary()
    if summary:
        doc.h2(f"Best architecture (trial {results['best'][0]['trial']})")
        doc.code(summary, "text")


def _trained(trials) -> list:
    return [t for t in trials if state_of(t) in ("complete", "pruned")]


def _value(t, spec: SearchSpec) -> float | None:
    if t.values:
        return t.values[[o.metric for o in spec.objectives].index(spec.monitor)]
    return t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None


def history_plot(trials, spec: SearchSpec) -> bytes | None:
    points = [(t.number, _value(t, spec), state_of(t)) for t in _trained(trials)]
    points = [p for p in points if p[1] is not None]
    if not points:
        return None
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    for state in ("complete", "pruned"):
        xs = [n for n, _, s in points if s == state]
        ax.scatter(xs, [v for _, v, s in points if s == state], s=18, color=COLORS[state], label=state)
    maximize = next(o.direction for o in spec.objectives if o.metric == spec.monitor) == "maximize"
    best, run = [], None
    for _, v, s in sorted(points):
        if s == "complete":
            run = v if run is None else (max(run, v) if maximize else min(run, v))
        best.append(run)
    ax.step([n for n, _, _ in sorted(points)], best, where="post", color=COLORS["best"], label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{spec.monitor} (validation)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def pareto_plot(trials, spec: SearchSpec, cost: str) -> bytes | None:
    points = [(t.user_attrs.get(cost), _value(t, spec)) for t in trials if state_of(t) == "complete"]
    points = [p for p in points if p[0] is not None and p[1] is not None]
    if len(points) < 2:
        return None
    maximize = next(o.direction for o in spec.objectives if o.metric == spec.monitor) == "maximize"
    front = pareto_front(points, maximize)
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    ax.scatter(
        [c for c, _ in points], [v for _, v in points], s=18, color=COLORS["complete"], label="complete"
    )
    ax.plot(
        [c for c, _ in front], [v for _, v in front], "o-", color=COLORS["best"], ms=4, label="Pareto front"
    )
    ax.set_xscale("log")
    ax.set_xlabel(cost)
    ax.set_ylabel(f"{spec.monitor} (validation)")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _png(fig)


def pareto_front(points: list[tuple[float, float]], maximize: bool = True) -> list[tuple[float, float]]:
    """The points no other point beats on both cost (lower) and metric (higher when ``maximize``)."""
    sign = 1 if maximize else -1
    front, best = [], None
    for cost, value in sorted(points, key=lambda p: (p[0], -sign * p[1])):
        if best is None or sign * value > sign * best:
            front.append((cost, value))
            best = value
    return front


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        return f"{int(v):,}"
    return f"{v:.4g}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())
