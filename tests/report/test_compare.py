"""archlab compare: one table of cost and quality, measured MACs cached, failures footnoted."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

import archlab.inspect
from archlab.report.compare import compare_runs


def digits_cnn_macs(w: int, k: int) -> int:
    """MACs of DigitsCNN(width=w) on 1×8×8: 3×3 convs 1→w, w→w at 8×8, w→2w, 2w→2w at 4×4, head 2w·k."""
    return 64 * 9 * w + 64 * 9 * w * w + 16 * 9 * w * 2 * w + 16 * 9 * 2 * w * 2 * w + 2 * w * k


def digits_cnn_params(w: int, k: int) -> int:
    """9w + 63w² conv weights, 12w BatchNorm, 2w·k + k head."""
    return 9 * w + 63 * w * w + 12 * w + 2 * w * k + k


@pytest.fixture
def two_runs(make_run):
    return make_run("wide", width=32), make_run("narrow", width=16)


def test_csv_holds_measured_macs_and_best_epochs(two_runs):
    rows = list(csv.DictReader(io.StringIO(compare_runs(list(two_runs), fmt="csv"))))
    assert [r["run_dir"] for r in rows] == [str(p) for p in two_runs]
    for r, w in zip(rows, (32, 16)):
        assert int(r["params"]) == digits_cnn_params(w, 4)
        assert int(r["macs"]) == digits_cnn_macs(w, 4)
        assert int(r["activation_bytes"]) > 0
        assert (r["split"], r["metric"], float(r["best"]), int(r["best_epoch"])) == ("test", "acc", 0.97, 4)
        assert float(r["train_time_s"]) == pytest.approx(7.5)  # 5 epochs × 1.5 s
        assert float(r["images_per_s"]) == pytest.approx(1300.0)  # mean of 1100..1500


def test_markdown_table_and_seed000_style_lines(two_runs, tmp_path):
    out = tmp_path / "cmp" / "compare.md"
    out.parent.mkdir()
    text = compare_runs(list(two_runs), fmt="md", out=out)
    assert out.read_text() == text
    head = "| model | dataset | parameters | MACs | activations (MB) | train time (s) | images/s | best test accuracy | epoch | macro F1 |"
    assert head in text
    assert "| digits_cnn (wide) | digits | 65,444 | 1.49M |" in text
    # narrow vs wide: 16,596 vs 65,444 parameters (3.94x fewer); MACs 377,984 vs 1,493,248 (3.95x)
    assert (digits_cnn_params(16, 4), digits_cnn_macs(16, 4), digits_cnn_macs(32, 4)) == (
        16_596,
        377_984,
        1_493_248,
    )
    assert "digits_cnn (narrow) vs digits_cnn (wide): parameters 16,596 vs 65,444 (3.9× fewer)" in text
    assert "MACs 378.0k vs 1.49M (4.0× fewer)" in text
    links = re.findall(r"\]\((compare_files/[^)]+\.png)\)", text)
    assert sorted(links) == ["compare_files/cost_vs_quality.png", "compare_files/curves.png"]
    assert all((out.parent / link).stat().st_size > 1000 for link in links)


def test_measurements_are_cached(two_runs, monkeypatch):
    compare_runs(list(two_runs), fmt="csv")
    cached = json.loads((two_runs[0] / "measure.json").read_text())
    assert cached["measured"]["macs"] == digits_cnn_macs(32, 4)

    def fail(*args, **kwargs):
        raise AssertionError("summarize called although measure.json holds the figures")

    monkeypatch.setattr(archlab.inspect, "summarize", fail)
    rows = list(csv.DictReader(io.StringIO(compare_runs(list(two_runs), fmt="csv"))))
    assert int(rows[1]["macs"]) == digits_cnn_macs(16, 4)


def test_inspect_failure_shows_dash_and_footnote(two_runs, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("tracer broke\nsecond line")

    monkeypatch.setattr(archlab.inspect, "summarize", boom)
    text = compare_runs([two_runs[0]], fmt="md")
    row = next(line for line in text.splitlines() if line.startswith("| digits_cnn"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["65,444", "-", "-"]
    assert "[1] wide: MACs and activations not measured, inspect failed: tracer broke" in text
    assert not (two_runs[0] / "measure.json").exists()


def test_html_is_self_contained(two_runs):
    page = compare_runs(list(two_runs), fmt="html")
    assert page.count('<img src="data:image/png;base64,') == 2
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")


def test_mixed_tasks_name_their_metric(make_run):
    from report_fixtures import multilabel_history

    a = make_run("single")
    b = make_run("multi", history=multilabel_history(), task="multi_label", results=False)
    text = compare_runs([a, b], fmt="md")
    assert "| best metric |" in text
    assert "97.00 (test accuracy)" in text and "62.00 (test mAP (macro))" in text


def test_user_errors(two_runs, tmp_path):
    with pytest.raises(ValueError, match="one of md, html, csv"):
        compare_runs(list(two_runs), fmt="pdf")
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        compare_runs([two_runs[0], tmp_path])
