"""Compound scaling as a built-in search: the α·β²·γ² grid, the scaled trials, predicted against measured MACs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from archlab.search import search
from archlab.search.compound import Compound, parse_compound, scaling_table

ARCH = {
    "name": "tiny",
    "input_size": [1, 8, 8],
    "num_classes": 10,
    "vars": {"w": 8},
    "layers": [
        {"op": "block", "type": "conv_norm_act", "out": "$w", "kernel_size": 3},
        {"name": "s", "op": "block", "type": "conv_norm_act", "out": "$w", "kernel_size": 3, "repeat": 2},
        {"op": "gap"},
        {"op": "flatten"},
        {"op": "linear", "out": "num_classes"},
    ],
}


def test_the_grid_keeps_points_near_the_target() -> None:
    c = Compound(alpha=(1.0, 1.4), beta=(1.0, 1.3), gamma=(1.0, 1.3), step=0.05, target=2.0, tolerance=0.08)
    labels = c.candidates()
    assert "1.20,1.10,1.15" in labels  # seed 004's coefficients: 1.2 * 1.1^2 * 1.15^2 = 1.92
    for label in labels:
        a, b, g = map(float, label.split(","))
        assert abs(a * b * b * g * g - 2.0) <= 0.08
    assert c.overrides("1.20,1.10,1.15", (1, 28, 28), phi=2)["data.resize"] == [37, 37]  # 28 * 1.15^2
    with pytest.raises(ValueError, match="no grid point has alpha"):
        parse_compound({"alpha": [1.0, 1.0], "beta": [1.0, 1.0], "gamma": [1.0, 1.0]})


def test_measured_macs_grow_as_the_rule_predicts(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(ARCH))
    rows = scaling_table(str(path), "1.00,1.00,1.41", (1, 8, 8), 10, phis=(0, 1, 2))
    # resolution only (gamma = 1.41): MACs follow the pixel count, 8x8 -> 11x11 -> 16x16
    assert [r["input"] for r in rows] == [[1, 8, 8], [1, 11, 11], [1, 16, 16]]
    assert rows[1]["measured_ratio"] == pytest.approx(121 / 64, rel=0.02)
    assert rows[2]["measured_ratio"] == pytest.approx(4.0, rel=0.02)
    assert rows[2]["predicted_ratio"] == pytest.approx(1.41**4)


@pytest.mark.slow
def test_a_compound_search_trains_scaled_networks(run_in_tmp: Path) -> None:
    (run_in_tmp / "tiny.yaml").write_text(yaml.safe_dump(ARCH))
    doc = {
        "set": {
            "model.name": str(run_in_tmp / "tiny.yaml"),
            "train.epochs": 1,
            "data.limit": 200,
            "run.threads": 1,
        },
        "compound": {
            "alpha": [1.0, 1.2],
            "beta": [1.0, 1.2],
            "gamma": [1.0, 1.2],
            "step": 0.1,
            "target": 1.3,
            "tolerance": 0.05,
        },
        "objectives": {"val/acc": "max"},
        "search": {"trials": 2, "sampler": "grid", "pruner": "none"},
    }
    (run_in_tmp / "c.yaml").write_text(yaml.safe_dump(doc))
    result = search(run_in_tmp / "c.yaml", progress=False, echo=lambda _: None)
    assert result.results["trained"] == 2
    rows = result.results["compound"]["rows"]
    assert [r["phi"] for r in rows] == [0, 1, 2, 3] and rows[0]["measured_ratio"] == 1.0
    assert "## Compound scaling" in (result.path / "report.md").read_text()
