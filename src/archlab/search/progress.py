"""The live view of a search: a bar of trials trained, and one line per finished candidate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState

from archlab.search.budget import fmt
from archlab.search.spec import SearchSpec
from archlab.search.study import count_trained


def state_of(t: optuna.trial.FrozenTrial) -> str:
    if t.user_attrs.get("infeasible"):
        return "infeasible"
    if t.user_attrs.get("killed"):
        return "killed"
    if t.user_attrs.get("surplus"):
        return "surplus"
    return {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}.get(
        t.state, t.state.name.lower()
    )


def trial_line(t: optuna.trial.FrozenTrial, spec: SearchSpec) -> str:
    """``trial 7 | params 7,902 | MACs 1,227,392 | val/acc 99.12% | complete | 41.2 s``."""
    a = t.user_attrs
    parts = [f"trial {t.number:>3}"]
    for key in ("params", "macs"):
        if key in a:
            parts.append(f"{'MACs' if key == 'macs' else key} {fmt(key, a[key])}")
    state = state_of(t)
    if state in ("complete", "pruned"):
        metric = spec.monitor
        value = _value(t, spec)
        if value is not None:
            shown = f"{100 * value:.2f}%" if not metric.endswith("loss") else f"{value:.4f}"
            parts.append(f"{metric} {shown}")
        epochs = a.get("epochs_run")
        parts.append(state + (f" after {epochs} epochs" if state == "pruned" and epochs else ""))
        parts.append(f"{a.get('train_s', 0.0):.1f} s")
    elif state == "infeasible":
        parts.append(f"infeasible: {a['infeasible']}")
        parts.append(f"{a.get('judge_s', 0.0):.2f} s")
    elif a.get("error"):
        parts.append(f"failed: {a['error']}")
    else:
        parts.append(state)
    return " | ".join(parts)


def _value(t: optuna.trial.FrozenTrial, spec: SearchSpec) -> float | None:
    if t.state == TrialState.COMPLETE:
        index = [o.metric for o in spec.objectives].index(spec.monitor)
        return t.values[index]
    if t.intermediate_values:
        return t.intermediate_values[max(t.intermediate_values)]
    return None


class Progress:
    """Polls the study: advances the bar and prints each newly finished trial once, in order."""

    def __init__(
        self, study: optuna.Study, spec: SearchSpec, echo: Callable[[str], None], enabled: bool = True
    ):
        self.study, self.spec, self.echo, self.enabled = study, spec, echo, enabled
        self.printed = {t.number for t in study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING}
        self.bar = None

    def __enter__(self) -> Progress:
        from tqdm.auto import tqdm

        total = self.spec.settings.trials
        self.bar = tqdm(
            total=total, desc="trials", unit="trial", disable=not self.enabled, dynamic_ncols=True
        )
        self.bar.update(min(total, count_trained(self.study)) - self.bar.n)
        return self

    def update(self, _: Any = None) -> None:
        finished = [
            t
            for t in self.study.get_trials(deepcopy=False)
            if t.state != TrialState.RUNNING and t.number not in self.printed
        ]
        for t in sorted(finished, key=lambda t: t.number):
            self.printed.add(t.number)
            line = trial_line(t, self.spec)
            self.bar.write(line) if self.enabled and self.bar is not None else self.echo(line)
        if self.bar is not None:
            self.bar.update(min(self.bar.total, count_trained(self.study, finished=True)) - self.bar.n)

    def __exit__(self, *exc: Any) -> None:
        self.update()
        if self.bar is not None:
            self.bar.close()
