"""A search file: the experiment to start from, the space, the objectives, the budget, the settings.

::

    base: ../digits.yaml          # the experiment each trial starts from (relative to this file)
    set: {train.epochs: 8}        # fixed overrides for every trial
    space: {...}                  # config keys that take a distribution (see archlab.search.space)
    objectives: {val/acc: max}    # one, or several for a Pareto front: {val/acc: max, macs: min}
    budget: {params: 8000, macs: 1.3e6, activation_mb: 1.0, latency_ms: 2.0}
    search: {trials: 20, sampler: tpe, pruner: median, seed: 0}

Objectives are validation metrics (``val/acc``, ``val/macro_f1``, ``val/loss`` …) or measured
costs (``params``, ``macs``, ``activation_mb``, ``latency_ms``). The test split is never an
objective: the search optimises on validation, and the best trials meet the test split once, at
the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from archlab._registry import closest
from archlab.config import Config, apply_overrides, architecture_beside, build_config, read_yaml
from archlab.search.compound import Compound, parse_compound
from archlab.search.space import Param, corners, parse_space

COSTS = ("params", "macs", "activation_mb", "latency_ms")
DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
SAMPLERS = ("tpe", "random", "grid", "nsga2", "gp")
PRUNERS = ("median", "hyperband", "successive_halving", "none")
SECTIONS = ("base", "set", "space", "objectives", "budget", "search", "compound")


@dataclass(frozen=True)
class Objective:
    metric: str  # "val/acc" or a cost such as "macs"
    direction: str  # "maximize" | "minimize"

    @property
    def is_cost(self) -> bool:
        return self.metric in COSTS


@dataclass(frozen=True)
class Budget:
    """Limits checked before a candidate trains; ``None``: no limit."""

    params: float | None = None
    macs: float | None = None
    activation_mb: float | None = None
    latency_ms: float | None = None
    latency_batch: int = 1  # batch size the latency is measured at
    latency_device: str = "cpu"  # device it is measured on (auto: CUDA when present)

    def limits(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in COSTS if getattr(self, k) is not None}


@dataclass(frozen=True)
class Settings:
    trials: int = 20  # trials trained (infeasible candidates do not count)
    timeout: float | None = None  # seconds; stop starting new trials after it
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0  # sampler seed; trial k trains with run.seed = seed + k
    max_infeasible: int = 100  # stop after this many infeasible draws in a row
    max_failed: int = 3  # stop after this many trainings in a row fail (NaN loss, a model that cannot run)
    startup_trials: int = 5  # trials before the sampler models the space and the pruner prunes
    warmup_epochs: int = 2  # epochs a trial always runs before it may be pruned
    test_top: int = 3  # best trials (single objective) evaluated on the test split at the end


@dataclass
class SearchSpec:
    """A parsed, checked search file."""

    base: dict[str, Any]
    overrides: dict[str, Any]
    space: tuple[Param, ...]
    objectives: tuple[Objective, ...]
    budget: Budget
    settings: Settings
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    compound: Compound | None = None

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def monitor(self) -> str:
        """The validation metric that selects each trial's best.pt and drives pruning."""
        return next(o.metric for o in self.objectives if not o.is_cost)

    def trial_config(
        self,
        values: dict[str, Any],
        extra: dict[str, Any] | None = None,
        input_size: tuple[int, ...] | None = None,
    ) -> Config:
        """The train config of one trial: base, then ``set``, then the sampled values, then ``extra``.

        A compound-scaling candidate (``values["compound"]``) becomes its multipliers and ``data.resize``
        for data of ``input_size`` (default: the model's own input size).
        """
        data = _deep_copy(self.base)
        values = dict(values)
        if "compound" in values and self.compound is not None:
            label = values.pop("compound")
            if input_size is None:
                from archlab.models import model_info

                name = (
                    self.overrides.get("model.name")
                    or data.get("model", {}).get("name")
                    or Config().model.name
                )
                input_size = tuple(model_info(name)["input_size"])
            values.update(self.compound.overrides(label, tuple(input_size)))
        items = {**self.overrides, **values, **(extra or {})}
        return build_config(apply_overrides(data, [f"{k}={_yaml(v)}" for k, v in items.items()]))


def load_search(path: str | Path, overrides: list[str] | None = None) -> SearchSpec:
    """Read and check a search file; ``overrides`` (``--set``) apply to its ``set`` section."""
    path = Path(path)
    raw = read_yaml(path)
    return parse_search(raw, path.parent, str(path), overrides)


def parse_search(
    raw: dict[str, Any], folder: Path, source: str, overrides: list[str] | None = None
) -> SearchSpec:
    unknown = [k for k in raw if k not in SECTIONS]
    if unknown:
        near = closest(unknown[0], SECTIONS, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"sections are {', '.join(SECTIONS)}"
        raise ValueError(f"{source}: unknown section {unknown[0]!r}; {hint}")
    base = {}
    if raw.get("base"):
        base_path = Path(raw["base"])
        base_path = base_path if base_path.is_absolute() else folder / base_path
        from archlab.config import load_config

        base = load_config(base_path).to_dict()
    fixed = dict(raw.get("set") or {})
    for text in overrides or []:
        key, _, value = text.partition("=")
        fixed[key.strip()] = _parse_value(value)
    if isinstance(fixed.get("model.name"), str):
        fixed["model.name"] = architecture_beside(fixed["model.name"], folder)
    space = parse_space(raw.get("space"), "space")
    compound = parse_compound(raw.get("compound"))
    if compound is not None:
        space += (Param("compound", "choice", choices=tuple(compound.candidates())),)
    objectives = _objectives(raw.get("objectives") or {"val/acc": "max"})
    budget = _section(Budget, raw.get("budget"), "budget")
    settings = _section(Settings, raw.get("search"), "search")
    spec = SearchSpec(base, fixed, space, objectives, budget, settings, source, raw, compound)
    _check(spec)
    return spec


def _objectives(raw: Any) -> tuple[Objective, ...]:
    items = list(raw.items()) if isinstance(raw, dict) else [kv for d in raw for kv in d.items()]
    out = []
    for metric, direction in items:
        metric = str(metric)
        if str(direction) not in DIRECTIONS:
            raise ValueError(f"objectives.{metric}: direction must be max or min, got {direction!r}")
        if metric.startswith("test/"):
            raise ValueError(
                f"objectives.{metric}: a search never sees the test split; optimise val/{metric[5:]} "
                "(the best trials are evaluated on test once, at the end)"
            )
        if metric not in COSTS and not metric.startswith("val/"):
            raise ValueError(
                f"objectives.{metric}: expected a validation metric such as val/acc, or one of {', '.join(COSTS)}"
            )
        out.append(Objective(metric, DIRECTIONS[str(direction)]))
    if not out or all(o.is_cost for o in out):
        raise ValueError("objectives: name at least one validation metric, e.g. {val/acc: max}")
    return tuple(out)


def _section(cls, raw: Any, name: str):
    raw = dict(raw or {})
    names = [f.name for f in fields(cls)]
    for key in raw:
        if key not in names:
            near = closest(key, names, n=1)
            hint = f"did you mean {name}.{near[0]}?" if near else f"keys are {', '.join(names)}"
            raise ValueError(f"{name}.{key} is not a setting; {hint}")
    obj = cls(**raw)
    for f in fields(cls):
        value = getattr(obj, f.name)
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value is not None
            and value < 0
        ):
            raise ValueError(f"{name}.{f.name} must not be negative, got {value}")
    return obj


def _check(spec: SearchSpec) -> None:
    s = spec.settings
    if s.sampler not in SAMPLERS:
        raise ValueError(f"search.sampler {s.sampler!r} is not one of {', '.join(SAMPLERS)}")
    if s.pruner not in PRUNERS:
        raise ValueError(f"search.pruner {s.pruner!r} is not one of {', '.join(PRUNERS)}")
    if s.trials < 1:
        raise ValueError(f"search.trials must be at least 1, got {s.trials}")
    for key in spec.overrides:
        if key in {p.key for p in spec.space}:
            raise ValueError(f"{key} is both fixed (set:) and searched (space:); keep one")
    # Every key, every branch, every value of a discrete range must make a valid config.
    for values in corners(spec.space) or [{}]:
        try:
            cfg = spec.trial_config(values)
            _build_on_meta(cfg)
        except ValueError as exc:
            raise ValueError(f"space: {exc}") from None


def _build_on_meta(cfg: Config) -> None:
    """Build the model without weights: a model argument (or architecture variable) it lacks fails here."""
    import torch

    from archlab.models import create_model

    with torch.device("meta"):
        create_model(
            cfg.model.name, num_classes=cfg.model.num_classes, in_chans=cfg.model.in_chans, **cfg.model.kwargs
        )


def _deep_copy(data: Any) -> Any:
    import copy

    return copy.deepcopy(data)


def _yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _parse_value(text: str) -> Any:
    from archlab.config import yaml_load

    return yaml_load(text) if text.strip() else ""
