"""Search files: distributions, branches and objectives parsed and checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from archlab.search.space import Param, grid, parse_space, sample
from archlab.search.spec import load_search, parse_search

BASE = {"set": {"train.epochs": 1}}


def spec_of(**sections):
    return parse_search({**BASE, **sections}, Path("."), "s.yaml")


def test_distributions_are_parsed() -> None:
    space = parse_space(
        {
            "model.kwargs.width": {"int": [8, 32], "step": 8},
            "optim.lr": {"float": [0.01, 0.3], "log": True},
            "data.augment.rotation": {"choice": [0, 10]},
        }
    )
    assert space[0] == Param("model.kwargs.width", "int", 8, 32, 8)
    assert space[0].values() == [8, 16, 24, 32]
    assert (space[1].kind, space[1].log, space[1].low, space[1].high) == ("float", True, 0.01, 0.3)
    assert space[2].choices == (0, 10)


def test_branches_add_keys_only_when_chosen() -> None:
    space = parse_space(
        {
            "optim.name": {
                "choice": {
                    "sgd": {"optim.momentum": {"float": [0.8, 0.95]}},
                    "adamw": {"optim.weight_decay": {"float": [1e-5, 1e-2], "log": True}},
                }
            }
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {}
    for _ in range(12):
        values = sample(study.ask(), space)
        seen[values["optim.name"]] = set(values)
    assert seen == {
        "sgd": {"optim.name", "optim.momentum"},
        "adamw": {"optim.name", "optim.weight_decay"},
    }


@pytest.mark.parametrize(
    "space, message",
    [
        ({"optim.lr": {"float": [0.3, 0.01]}}, r"space.optim.lr: the range \[0.3, 0.01\] is empty"),
        ({"optim.lr": {"float": [0.0, 0.1], "log": True}}, "a log-scale range must be positive"),
        ({"optim.lr": 0.1}, "expected one distribution such as"),
        ({"optim.lr": {"choice": []}}, "choice expects a non-empty list"),
        ({"optim.lr": {"float": [0.1, 0.2], "lgo": True}}, r"unknown option\(s\) lgo"),
        ({"optim.lr": {"int": [1.5, 3]}}, "int bounds must be whole numbers"),
        (
            {"optim.lrr": {"float": [0.01, 0.1]}},
            "space: unknown config key 'optim.lrr'; did you mean 'optim.lr'",
        ),
        ({"optim.name": {"choice": ["sgd", "adamm"]}}, "has no choice 'adamm'"),
    ],
)
def test_space_errors_are_one_line(space, message) -> None:
    with pytest.raises(ValueError, match=message) as info:
        spec_of(space=space)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"objectives": {"test/acc": "max"}}, "a search never sees the test split; optimise val/acc"),
        ({"objectives": {"macs": "min"}}, "name at least one validation metric"),
        ({"objectives": {"val/acc": "up"}}, "direction must be max or min"),
        ({"budget": {"parms": 10}}, "budget.parms is not a setting; did you mean budget.params"),
        ({"search": {"sampler": "bayes"}}, "search.sampler 'bayes' is not one of"),
        ({"serach": {}}, "unknown section 'serach'; did you mean 'search'"),
        ({"set": {"optim.lr": 0.1}, "space": {"optim.lr": {"float": [0.01, 0.1]}}}, "both fixed"),
    ],
)
def test_spec_errors(sections, message) -> None:
    with pytest.raises(ValueError, match=message):
        spec_of(**sections)


def test_grid_needs_discrete_keys() -> None:
    assert grid(parse_space({"a.b": {"int": [1, 3]}, "c.d": {"float": [0.0, 0.5], "step": 0.25}})) == {
        "a.b": [1, 2, 3],
        "c.d": [0.0, 0.25, 0.5],
    }
    with pytest.raises(ValueError, match="needs a step on float ranges"):
        grid(parse_space({"c.d": {"float": [0.0, 0.5]}}))


def test_shipped_search_files_parse(configs_dir: Path) -> None:
    for path in sorted((configs_dir / "search").glob("*.yaml")):
        spec = load_search(path)
        assert spec.space and spec.objectives, path


def test_the_cli_imports_optuna_only_for_a_search() -> None:
    import subprocess
    import sys

    code = "import sys, archlab.cli as c; c.build_parser(); print('optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
