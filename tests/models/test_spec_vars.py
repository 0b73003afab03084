"""Architecture families: variables, expressions, optional layers, stage strides and compound scaling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from archlab.models import create_model, model_info
from archlab.models.spec_vars import apply_scale, resolve

FAMILY = {
    "name": "fam",
    "input_size": [1, 16, 16],
    "num_classes": 3,
    "vars": {"w": 4, "depth": 2, "k": 3, "att": "none", "pool": True},
    "layers": [
        {"op": "conv", "out": "$w", "k": "$k", "pad": "${k // 2}"},
        {
            "name": "s",
            "op": "block",
            "type": "basic",
            "out": "${w * 2}",
            "stride": 2,
            "attention": "$att",
            "repeat": "$depth",
        },
        {"op": "maxpool", "k": 2, "when": "$pool"},
        {"op": "gap"},
        {"op": "flatten"},
        {"op": "linear", "out": "num_classes"},
    ],
}


@pytest.fixture
def family(tmp_path: Path) -> Path:
    path = tmp_path / "fam.yaml"
    path.write_text(yaml.safe_dump(FAMILY))
    return path


def test_variables_and_expressions_are_substituted() -> None:
    spec = resolve(FAMILY, {"w": 6, "k": 5})
    assert "vars" not in spec
    assert spec["layers"][0] == {"op": "conv", "out": 6, "k": 5, "pad": 2}
    assert spec["layers"][1]["out"] == 12 and spec["layers"][1]["repeat"] == 2
    assert len(resolve(FAMILY, {"pool": False})["layers"]) == 5  # the maxpool dropped
    assert len(resolve(FAMILY, {"depth": 0})["layers"]) == 5  # repeat 0 drops the stage


def test_a_repeated_stage_strides_once(family: Path) -> None:
    model = create_model(str(family), depth=3)
    strides = [
        m.stride
        for name, m in model.named_modules()
        if name.startswith("s_") and isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
    ]
    assert strides[0] == (2, 2) and set(strides[1:]) == {(1, 1)}
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 3)


def test_parameter_count_follows_the_variables(family: Path) -> None:
    def count(**kw) -> int:
        return sum(p.numel() for p in create_model(str(family), **kw).parameters())

    # without the stage: conv 1->w (k=3) 9w + w, then linear w->3: 3w + 3.
    assert count(w=4, depth=0) == 9 * 4 + 4 + 3 * 4 + 3
    assert count(depth=2) > count(depth=1) > count(depth=0)
    assert count(att="eca") > count(att="none")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"vars": {**FAMILY["vars"], "unused": 1}}, "variable 'unused' is declared but no layer uses it"),
        ({"layers": [{"op": "conv", "out": "$width"}]}, r"\$width is not a variable"),
        ({"layers": [{"op": "conv", "out": "${__import__('os')}"}]}, "is not allowed in an expression"),
        ({"layers": [{"op": "conv", "out": 4, "when": "$w"}]}, "when must be true or false"),
    ],
)
def test_mistakes_are_one_line(change, message) -> None:
    spec = {**FAMILY, **change}
    if "layers" in change and "vars" not in change:
        spec["vars"] = {"w": 4}
    with pytest.raises(ValueError, match=message) as info:
        resolve(spec)
    assert "\n" not in str(info.value)


def test_overriding_an_unknown_variable(family: Path) -> None:
    with pytest.raises(ValueError, match="architecture 'fam' has no variable 'dpeth'; did you mean 'depth'"):
        create_model(str(family), dpeth=2)


def test_compound_scaling_multiplies_repeats_widths_and_resolution(family: Path) -> None:
    spec = apply_scale(resolve(FAMILY), depth_mult=1.2, width_mult=1.5, resolution_mult=1.15)
    assert spec["layers"][1]["repeat"] == 3  # ceil(2 * 1.2)
    assert spec["layers"][0]["out"] == 6 and spec["layers"][1]["out"] == 12
    assert spec["layers"][-1]["out"] == "num_classes"  # the classifier keeps the class count
    assert spec["input_size"] == [1, 18, 18]
    assert model_info(str(family))["input_size"] == (1, 16, 16)
