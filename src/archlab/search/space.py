"""Search spaces: config keys that take a distribution instead of a value.

In a search file, ``space`` maps dotted config keys to a distribution::

    space:
      model.kwargs.width: {int: [8, 32], step: 8}        # integers lo..hi (inclusive), step
      optim.lr: {float: [0.01, 0.3], log: true}           # floats, log scale
      data.augment.rotation: {choice: [0, 10, 15]}        # one of these values
      optim.name:                                         # a choice whose branches add keys
        choice:
          sgd: {optim.momentum: {float: [0.8, 0.95]}}
          adamw: {optim.weight_decay: {float: [1.0e-5, 1.0e-2], log: true}}

Optuna samples them (``trial.suggest_*``); a branch's keys exist only in the trials that
chose it. Every key, range and branch is checked before anything runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

KINDS = ("int", "float", "choice")
OPTIONS = {"int": {"step", "log"}, "float": {"step", "log"}, "choice": set()}


@dataclass(frozen=True)
class Param:
    """One searched config key and its distribution."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    branches: dict[Any, tuple[Param, ...]] = field(default_factory=dict)  # choice -> keys it adds

    def values(self) -> list[Any]:
        """Every value (discrete kinds), or the two ends (floats): what the checks try."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        return [self.low, self.high]

    def suggest(self, trial) -> Any:
        if self.kind == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)
        return trial.suggest_categorical(self.key, list(self.choices))

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        scale = ", log" if self.log else ""
        step = f", step {self.step:g}" if self.step else ""
        return f"{self.kind} {self.low:g}..{self.high:g}{step}{scale}"


def parse_space(raw: Any, where: str = "space") -> tuple[Param, ...]:
    """The parameters of a ``space`` mapping; one-line errors for a malformed entry."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must map config keys to distributions, got {type(raw).__name__}")
    return tuple(_parse_param(str(key), spec, f"{where}.{key}") for key, spec in raw.items())


def _parse_param(key: str, spec: Any, where: str) -> Param:
    kinds = [k for k in KINDS if isinstance(spec, dict) and k in spec]
    if len(kinds) != 1:
        raise ValueError(
            f"{where}: expected one distribution such as {{int: [8, 32]}}, {{float: [0.01, 0.3], log: true}} "
            f"or {{choice: [a, b]}}; got {spec!r} (fixed values go under 'set:')"
        )
    kind = kinds[0]
    extra = set(spec) - {kind} - OPTIONS[kind]
    if extra:
        raise ValueError(f"{where}: unknown option(s) {', '.join(sorted(extra))} for a {kind} range")
    if kind == "choice":
        return _parse_choice(key, spec["choice"], where)
    bounds = spec[kind]
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds)):
        raise ValueError(f"{where}: {kind} expects [low, high], got {bounds!r}")
    low, high = (int(b) for b in bounds) if kind == "int" else (float(b) for b in bounds)
    if kind == "int" and any(float(b) != int(b) for b in bounds):
        raise ValueError(f"{where}: int bounds must be whole numbers, got {bounds!r}")
    if high < low:
        raise ValueError(f"{where}: the range [{low}, {high}] is empty (low > high); swap the bounds")
    log, step = bool(spec.get("log", False)), spec.get("step")
    if log and low <= 0:
        raise ValueError(f"{where}: a log-scale range must be positive, got low={low}")
    if step is not None and (not _is_number(step) or step <= 0):
        raise ValueError(f"{where}: step must be a positive number, got {step!r}")
    if log and step not in (None, 1):
        raise ValueError(f"{where}: a log-scale range takes no step (Optuna samples it continuously)")
    if step is not None and kind == "int" and float(step) != int(step):
        raise ValueError(f"{where}: an int range needs a whole step, got {step!r}")
    return Param(key, kind, low, high, step, log)


def _parse_choice(key: str, options: Any, where: str) -> Param:
    if isinstance(options, dict):
        if not options:
            raise ValueError(f"{where}: choice has no options; list at least one")
        branches = {
            value: parse_space(sub, f"{where}.choice.{value}") for value, sub in options.items() if sub
        }
        return Param(key, "choice", choices=tuple(options), branches=branches)
    if not isinstance(options, list) or not options:
        raise ValueError(f"{where}: choice expects a non-empty list (or a mapping of value -> keys it adds)")
    for value in options:
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise ValueError(
                f"{where}: choices must be plain values (Optuna stores them); got {value!r} — "
                "name the options and use a mapping of name -> keys"
            )
    if len(set(map(repr, options))) != len(options):
        raise ValueError(f"{where}: choice lists a value twice: {options!r}")
    return Param(key, "choice", choices=tuple(options))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def sample(trial, params: tuple[Param, ...]) -> dict[str, Any]:
    """Draw every parameter (and the keys of the branches chosen) from an Optuna trial."""
    values: dict[str, Any] = {}
    for p in params:
        value = p.suggest(trial)
        values[p.key] = value
        if p.branches.get(value):
            values.update(sample(trial, p.branches[value]))
    return values


def all_params(params: tuple[Param, ...]) -> list[Param]:
    """Every parameter, those inside branches included."""
    out = []
    for p in params:
        out.append(p)
        for sub in p.branches.values():
            out += all_params(sub)
    return out


def corners(params: tuple[Param, ...]) -> list[dict[str, Any]]:
    """A few assignments that together give every key and every choice a value: for checking keys."""
    flat = all_params(params)
    width = max((len(p.values()) for p in flat), default=1)
    return [{p.key: p.values()[min(i, len(p.values()) - 1)] for p in flat} for i in range(width)]


def grid(params: tuple[Param, ...]) -> dict[str, list[Any]]:
    """The search space as Optuna's ``GridSampler`` wants it (discrete keys, no branches)."""
    out = {}
    for p in params:
        if p.branches:
            raise ValueError(
                f"space.{p.key}: sampler 'grid' cannot follow a choice's branches; use tpe or random"
            )
        if p.kind == "float" and not p.step:
            raise ValueError(f"space.{p.key}: sampler 'grid' needs a step on float ranges")
        if p.kind == "float":
            n = int(round((p.high - p.low) / p.step))
            out[p.key] = [round(p.low + i * p.step, 12) for i in range(n + 1)]
        else:
            out[p.key] = p.values()
    return out
