"""report.md / report.html: seed 001's Targets, Results and Analysis filled in from the run, images embedded."""

from __future__ import annotations

import base64
import re
import struct

import pytest

from archlab.report.analysis import parse_target, weakest_classes
from archlab.report.run_report import write_run_report
from archlab.rundir import load_run
from archlab.train.recording import ordinal, short_count

TARGETS = ["fewer than 8,000 parameters", "at least 95 % test accuracy within 15 epochs"]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_ordinal_and_short_count():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th",
    ]  # fmt: skip
    assert short_count(7902) == "7.9k"
    assert short_count(1_975_770) == "1.98M"
    assert short_count(4.1e9) == "4.10G"


def test_results_block_matches_the_history(make_run):
    run = make_run(targets=TARGETS, notes="Dropout 0.1 after every block.\nNo augmentation.")
    md, html = write_run_report(run)
    text = md.read_text()
    # digits_cnn width 32, 1 band, 4 classes: 9w + 63w^2 (convs) + 12w (BN) + 2w*4 + 4 (head)
    params = 9 * 32 + 63 * 32**2 + 12 * 32 + 2 * 32 * 4 + 4
    assert params == 65_444
    assert f"- Parameters: {params:,} (65.4k)" in text
    assert "- Best Train Accuracy: 99.50 (5th Epoch)" in text
    assert "- Best Test Accuracy: 97.00 (4th Epoch)" in text
    assert "Checkpoint best.pt: epoch 4, selected by test/acc" in text
    targets = text.split("## Targets")[1].split("## Results")[0]
    assert all(f"- {t}" in targets for t in TARGETS)


def test_analysis_observations_are_computed(make_run):
    text = write_run_report(make_run(targets=TARGETS, notes="Dropout 0.1 after every block."))[0].read_text()
    analysis = text.split("## Analysis")[1].split("\n## ")[0]
    # 65,444 parameters against a strict limit of 8,000
    assert "parameters < 8,000: not met, 65,444 parameters (57,444 over)" in analysis
    # test accuracy 70, 85, 95, 97, 96: 95 first at epoch 3, then held in epochs 3, 4, 5
    assert (
        "test accuracy ≥ 95: first reached at epoch 3 (95.00), within the 15-epoch budget; held in 3 of the 3"
        in analysis
    )
    # best test epoch 4: train 99.00 vs test 97.00
    assert "Train–test gap at the best test epoch (4): train 99.00 vs test 97.00, +2.00 points" in analysis
    # loss 0.12 at epoch 4, 0.15 at the end: 25 % higher
    assert "Test loss was lowest at epoch 4 (0.1200) and ended 25% higher (0.1500)" in analysis
    # epoch 4: 'two' 22/25 right, 3 taken for 'one' -> recall .88, F1 .936; 'one' precision 25/28 -> F1 .943
    assert (
        "Weakest classes by F1 (test, epoch 4): 'two' F1 0.936 (precision 1.000, recall 0.880, 25 samples, most often taken for 'one', 3×); 'one' F1 0.943"
        in analysis
    )
    assert "- Dropout 0.1 after every block." in analysis


def test_parse_target_reads_limits_written_many_ways(make_run):
    run = load_run(make_run())
    t = parse_target("The number of parameters less than 8K, and 99.41% in less than 15 epochs", run)
    assert (t.max_params, t.metric_pct, t.max_epochs, t.split, t.metric) == (8000, 99.41, 15, "test", "acc")
    t = parse_target("fewer than 1.5M params and train accuracy 99 %", run)
    assert (t.max_params, t.metric_pct, t.split) == (1_500_000, 99.0, "train")
    t = parse_target("at most 20,000 parameters", run)
    assert (t.max_params, t.params_inclusive, t.metric_pct) == (20_000, True, None)
    assert parse_target("Start with the model of session 7", run).max_params is None


def test_weakest_classes_order_by_f1(make_run):
    run = load_run(make_run())
    weak = weakest_classes(run, "test", 5, n=2)
    # epoch 5: 'one' 24/25 (1 to 'two'), 'two' 22/25 (3 to 'one'): F1 two = 2*(22/23*.88)/(22/23+.88)
    p2, r2 = 22 / 23, 22 / 25
    assert weak[0].startswith(f"'two' F1 {2 * p2 * r2 / (p2 + r2):.3f}")
    assert weak[1].startswith("'one' F1")


def test_markdown_links_the_pngs_and_html_embeds_them(make_run):
    run = make_run()
    md, html = write_run_report(run)
    text = md.read_text()
    links = re.findall(r"!\[[^\]]*\]\((report/[^)]+\.png)\)", text)
    assert sorted(links) == ["report/confusion.png", "report/curves.png", "report/per_class.png"]
    for link in links:
        w, h = png_size((run / link).read_bytes())
        assert w > 100 and h > 100
    page = html.read_text()
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == 3
    assert sorted(png_size(base64.b64decode(b)) for b in embedded) == sorted(
        png_size((run / link).read_bytes()) for link in links
    )
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_multilabel_run_without_accuracy_or_results(make_run):
    from report_fixtures import multilabel_history

    run = make_run(history=multilabel_history(), task="multi_label", results=False)
    md, html = write_run_report(run)
    text = md.read_text()
    assert "task multi_label" in text
    assert "- Best Test mAP (macro): 62.00 (3rd Epoch)" in text
    assert "- Best Test Macro F1: 52.00 (3rd Epoch)" in text
    assert "Hamming loss 0.0667" in text
    assert "confusion.png" not in text and "report/per_class.png" in text
    assert "| AP |" in text or "| AP | support |" in text
    assert "in progress or interrupted: 3 of 3 epochs recorded" in text


@pytest.mark.parametrize("keep", ["config.yaml", "metrics.jsonl"])
def test_a_bare_run_directory_still_gets_a_report(make_run, keep):
    run = make_run(checkpoint=False, results=False)
    for f in run.iterdir():
        if f.name != keep:
            f.unlink()
    md, html = write_run_report(run)
    assert md.is_file() and html.is_file()
    text = md.read_text()
    assert ("No epoch recorded yet." in text) == (keep == "config.yaml")


def test_not_a_run_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        write_run_report(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        write_run_report(tmp_path / "missing")


def test_malformed_records_lose_a_figure_not_the_report(make_run):
    from report_fixtures import digits_history

    history = digits_history()
    last = history[3]["test"]  # epoch 4, the one best.pt holds
    last["confusion"] = [[1, 2, 3], [4, 5]]  # ragged: cannot be drawn
    last["per_class_f1"][1] = None
    last["support"] = [25, None, 25, 25]
    del history[2]["test"]["acc"]
    md, _ = write_run_report(make_run(history=history, results=False))
    text = md.read_text()
    assert "Note: confusion matrix not drawn: ValueError" in text
    assert "report/confusion.png" not in text and "report/per_class.png" in text
    assert "| one | 0.893 | 1.000 | - | - |" in text  # 'one' precision 25/28, F1 and support missing
    assert "Best Test Accuracy: 97.00 (4th Epoch)" in text
