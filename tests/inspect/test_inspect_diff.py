"""``diff``: the changelog of two summaries, figures and blocks."""

from __future__ import annotations

import json

import archlab
from archlab.inspect import diff, summarize


def _pair():
    a = summarize(archlab.create_model("mnist_net2"), (1, 28, 28), depth=1)
    b = summarize(archlab.create_model("mnist_net3"), (1, 28, 28), depth=1)
    return a, b, diff(a, b, "Model 2", "Model 3")


def test_figures_deltas_and_ratios():
    a, b, d = _pair()
    params = next(f for f in d.figures if f.key == "total_params")
    assert (params.a, params.b, params.delta) == (5_048, 7_902, 2_854)
    assert params.ratio == 7_902 / 5_048
    act = next(f for f in d.figures if f.key == "activation_bytes")
    assert act.delta == b.activation_bytes - a.activation_bytes


def test_blocks_added_and_changed():
    _, _, d = _pair()
    assert [r.name for r in d.added] == ["skip1", "skip2", "gate", "convblock8"]
    assert d.removed == []
    changed = {ra.name: (ra.params, rb.params) for ra, rb in d.changed}
    assert changed["convblock1"] == (8 * 9 + 2 * 8, 10 * 9 + 2 * 10)
    assert changed["convblock7"] == (120, 12 * 12 * 9 + 24)  # a 1×1 head became a 3×3 block


def test_markdown_is_a_changelog_table():
    _, _, d = _pair()
    md = d.to_markdown()
    assert md.startswith("### Model 2 → Model 3")
    assert "| Parameters | 5,048 | 7,902 | +2,854 | 1.565× |" in md
    assert "| added | skip1 | Conv2d | +140 |" in md
    assert "MB = 10^6 bytes" in md
    d2 = json.loads(json.dumps(d.to_dict()))
    assert d2["figures"][0]["delta"] == 2_854 and "torch_version" in d2
