"""The run directory module: the files a run holds, read back whole or tolerantly."""

from __future__ import annotations

from pathlib import Path

import pytest

from archlab.data.inputspec import InputSpec
from archlab.rundir import Run, RunDir, load_run, restore
from archlab.train import train

SMALL = ["model.kwargs.width=8", "run.summary=true", "run.progress=false", "run.threads=1", "data.limit=200"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = train(
        None, overrides=SMALL + ["train.epochs=2", f"run.out_dir={out}", "run.name=r"], echo=lambda _: None
    )
    return result.run_dir


def test_a_finished_run_holds_exactly_the_documented_files(finished: Path) -> None:
    names = sorted(p.name for p in finished.iterdir())
    assert names == sorted(
        [
            "best.pt",
            "config.yaml",
            "last.pt",
            "metrics.csv",
            "metrics.jsonl",
            "report",
            "report.html",
            "report.md",
        ]
        + ["results.json", "summary.txt"]
    )


def test_the_input_spec_is_stored_once(finished: Path) -> None:
    rd = RunDir(finished)
    best = rd.load_checkpoint("best")
    assert not {"classes", "input_size", "bands", "mean", "std", "scale", "task"} & set(best)
    spec = InputSpec.from_dict(best["input"])
    assert spec.input_size == (1, 8, 8) and spec.classes == tuple(str(i) for i in range(10))
    assert spec.bands == ("gray",) and spec.scale == 255.0 and spec.normalized
    assert load_run(finished).spec == spec == restore(finished).spec


def test_load_run_reads_everything_and_restores(finished: Path) -> None:
    run = load_run(finished)
    assert isinstance(run, Run) and run.notes == []
    assert [r["epoch"] for r in run.history] == [1, 2] and run.results["epochs_run"] == 2
    assert run.epochs_planned == 2 and run.task == "single_label" and run.params == 4_370
    assert run.summary.startswith(RunDir(finished).read_summary()[:20])
    assert run.restore().params == 4_370 and not run.restore("last").model.training


def test_a_damaged_run_is_read_with_notes(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.write_config({"train": {"epochs": 3}, "curriculum": [{"epochs": 2}, {"epochs": 4}]})
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "test": {"acc": 0.5}}\nnot json\n')
    (tmp_path / "best.pt").write_bytes(b"garbage")
    run = load_run(tmp_path)
    assert [r["epoch"] for r in run.history] == [1]
    assert run.notes[0] == "metrics.jsonl line 2 is not JSON (skipped)"
    assert run.notes[1].startswith("best.pt unreadable: ")
    assert run.epochs_planned == 6  # the curriculum's stages, not train.epochs
    assert run.spec is None and run.classes == []


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        load_run(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found; pass a folder written by archlab train"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"is not a run directory \(no config.yaml\)"):
        RunDir.for_resume(tmp_path)
    RunDir(tmp_path).write_config({})
    with pytest.raises(FileNotFoundError, match="stopped before its first epoch ended; start it again"):
        RunDir.for_resume(tmp_path)


def test_curriculum_report_counts_the_stages_epochs(run_in_tmp: Path) -> None:
    from archlab.report.run_report import _status

    run = Run(
        Path("x"),
        {"train": {"epochs": 15}, "curriculum": [{"epochs": 2}, {"epochs": 3}]},
        [{"epoch": 1}],
        {},
        "",
        {},
    )
    assert _status(run) == "in progress or interrupted: 1 of 5 epochs recorded"
