"""The training engine: run-directory files, printed lines, results block, errors, divergence."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from archlab.config import DataConfig, build_config, load_config
from archlab.data import BatchLoader, BatchTransform, load_dataset
from archlab.data.inputspec import InputSpec
from archlab.models import create_model
from archlab.rundir import RunDir, flat_row, load_checkpoint
from archlab.train import TrainingDiverged, engine, evaluate, loop, recording, train
from archlab.train.build import monitor_of
from archlab.train.setup import set_determinism

pytestmark = pytest.mark.usefixtures("run_in_tmp")

# A small, fast digits run: a narrow CNN (63·8² + 9·8 + 12·8 + 2·8·10 + 10 = 4,370 parameters).
FAST = ["model.kwargs.width=8", "run.summary=false", "run.progress=false", "run.threads=1"]
RUN_FILES = {
    "config.yaml",
    "metrics.jsonl",
    "metrics.csv",
    "results.json",
    "best.pt",
    "last.pt",
    "report.md",
    "report.html",
    "report",
}


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory: pytest.TempPathFactory):
    """One 2-epoch digits run with a validation split and the live bar on, shared by the tests below."""
    out = tmp_path_factory.mktemp("runs")
    bars: list[dict] = []
    lines: list[str] = []
    real = loop.progress_bar

    def spy(total: int, desc: str, enabled: bool):
        bar = real(total, desc, enabled)
        record = {"total": total, "desc": desc, "enabled": enabled, "postfix": []}
        original = bar.set_postfix

        def set_postfix(ordered_dict=None, refresh=True, **kw):
            record["postfix"].append({**dict(ordered_dict or {}), **kw})
            return original(ordered_dict, refresh=refresh, **kw)

        bar.set_postfix = set_postfix
        bars.append(record)
        return bar

    mp = pytest.MonkeyPatch()
    mp.setattr(loop, "progress_bar", spy)
    threads = torch.get_num_threads()
    try:
        result = train(
            None,
            overrides=[
                "model.kwargs.width=8",
                "run.summary=false",
                "run.threads=1",
                "train.epochs=2",
                "data.val_split=0.1",
                f"run.out_dir={out}",
                "run.name=two",
            ],
            echo=lines.append,
        )
    finally:
        mp.undo()
        torch.set_num_threads(threads)
    return result, bars, lines


def test_run_directory_files(two_epochs) -> None:
    result, _, _ = two_epochs
    assert result.run_dir.name == "two"
    assert {p.name for p in result.run_dir.iterdir()} == RUN_FILES  # no summary.txt with run.summary=false
    assert not list(result.run_dir.glob("*.tmp")) and not list(result.run_dir.glob(".*"))


def test_resolved_config_is_written(two_epochs) -> None:
    result, _, _ = two_epochs
    cfg = load_config(result.run_dir / "config.yaml")
    assert cfg.train.epochs == 2 and cfg.data.val_split == 0.1 and cfg.model.kwargs == {"width": 8}
    assert cfg.model.name == "digits_cnn" and cfg.optim.lr == 0.05  # defaults written out, not left implicit


def test_metrics_jsonl_and_csv_agree_with_history(two_epochs) -> None:
    result, _, _ = two_epochs
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records == json.loads(json.dumps(result.history)) and [r["epoch"] for r in records] == [1, 2]
    for r in records:
        assert {"epoch", "lr", "train", "val", "test", "eval_time_s", "wall_time_s"} <= set(r)
        assert len(r["test"]["confusion"]) == 10 and sum(r["test"]["support"]) == 360
        assert sum(r["val"]["support"]) == 144
        assert sum(map(sum, r["test"]["confusion"])) == 360
        assert r["test"]["acc"] == pytest.approx(sum(r["test"]["confusion"][i][i] for i in range(10)) / 360)
    with open(result.run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for row, r in zip(rows, records):
        assert int(row["epoch"]) == r["epoch"]
        assert float(row["test/acc"]) == r["test"]["acc"] and float(row["train/loss"]) == r["train"]["loss"]
        assert float(row["val/macro_f1"]) == r["val"]["macro_f1"]
        assert "test/confusion" not in row  # lists stay in the JSONL


def test_results_json_and_block(two_epochs) -> None:
    result, _, lines = two_epochs
    saved = json.loads((result.run_dir / "results.json").read_text())
    assert saved == json.loads(json.dumps(result.results))
    h = result.history
    assert saved["params"] == 4_370 and saved["epochs_run"] == 2 and saved["monitor"] == "val/acc"
    assert saved["best_train_acc"] == max(r["train"]["acc"] for r in h)
    assert saved["best_test_acc"] == max(r["test"]["acc"] for r in h)
    assert h[saved["best_test_epoch"] - 1]["test"]["acc"] == saved["best_test_acc"]
    block = lines[-1]
    assert lines[-2] == f"report: {result.run_dir / 'report.html'}"
    assert block.startswith("===================\nResults:\nParameters: 4,370 (4.4k)\n")
    assert f"Best Train Accuracy: {100 * saved['best_train_acc']:.2f}\n" in block
    ordinal = recording.ordinal(saved["best_test_epoch"])
    assert f"Best Test Accuracy: {100 * saved['best_test_acc']:.2f} ({ordinal} Epoch)" in block
    assert (
        f"Best Val Accuracy: {100 * saved['best_val_acc']:.2f} ({recording.ordinal(saved['best_val_epoch'])} Epoch)"
        in block
    )


def test_epoch_lines(two_epochs) -> None:
    result, _, lines = two_epochs
    pattern = re.compile(
        r"^epoch (\d)/2 \| train loss \d+\.\d{4} acc \d+\.\d\d% \| val loss \d+\.\d{4} acc \d+\.\d\d% \| "
        r"test loss \d+\.\d{4} acc \d+\.\d\d% \| lr \d\.\d\de[-+]\d\d \| \d+\.\ds \([\d,]+ img/s\)( \*)?$"
    )
    epochs = [int(m.group(1)) for m in map(pattern.match, lines) if m]
    assert epochs == [1, 2]
    assert lines[0] == f"run directory: {result.run_dir}"
    assert "digits train 1,293 / val 144 / test 360 | input 1x8x8" in lines[1]


def test_live_progress_bar_fields(two_epochs) -> None:
    _, bars, _ = two_epochs
    assert [b["desc"] for b in bars] == ["epoch 1/2", "epoch 2/2"]
    assert all(b["enabled"] and b["total"] == 21 for b in bars)  # ceil(1,293 / 64) batches
    for b in bars:
        assert b["postfix"]
        for fields in b["postfix"]:  # loss, accuracy, learning rate, images per second
            assert len(fields) == 4 and {"loss", "acc", "lr"} <= set(fields), fields
            assert {"ips", "img/s", "images/s"} & set(fields), fields


def test_checkpoints_carry_what_is_needed_to_use_them(two_epochs) -> None:
    result, _, _ = two_epochs
    best, last = load_checkpoint(result.run_dir / "best.pt"), load_checkpoint(result.run_dir / "last.pt")
    assert last["epoch"] == 2 and best["epoch"] == result.results["selected_epoch"]
    for ckpt in (best, last):
        spec = InputSpec.from_checkpoint(ckpt)
        assert spec.classes == tuple(str(i) for i in range(10)) and spec.input_size == (1, 8, 8)
        assert ckpt["model_name"] == "digits_cnn" and ckpt["params"] == 4_370 and spec.bands == ("gray",)
        assert len(spec.mean) == 1 and spec.scale == 255.0
    assert {"optimizer", "scheduler", "scaler", "rng", "history", "best_value", "best_epoch"} <= set(last)
    assert "optimizer" not in best
    model = create_model("digits_cnn", width=8)
    model.load_state_dict(best["model"])  # best.pt alone rebuilds the model


def test_evaluate_matches_a_direct_computation() -> None:
    data = load_dataset(DataConfig())
    torch.manual_seed(0)
    model = create_model("digits_cnn", width=8)
    model.train()
    loader = BatchLoader(data.test, 64, shuffle=False)  # 360 = 5·64 + 40: a partial last batch
    tf = BatchTransform(data.mean, data.std)
    out = evaluate(model, loader, tf, 10, topk=3)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        x, _ = tf(data.test.x, data.test.y)
        logits = model(x)
    assert out["loss"] == pytest.approx(F.cross_entropy(logits, data.test.y).item(), rel=1e-5)
    assert out["acc"] == pytest.approx((logits.argmax(1) == data.test.y).float().mean().item())
    assert sum(out["support"]) == 360 and "top3" in out


def test_divergence_stops_and_keeps_the_last_good_checkpoint(run_in_tmp: Path) -> None:
    """Epoch 1 trains at lr 0.01; a step schedule then multiplies it by 1e12 and the loss overflows."""
    overrides = FAST + [
        "train.epochs=3",
        "run.name=nan",
        "sched.name=step",
        "sched.step_size=1",
        "sched.gamma=1000000000000.0",
        "optim.lr=0.01",
    ]
    with pytest.raises(TrainingDiverged) as info:
        train(None, overrides=overrides, echo=lambda _: None)
    message = str(info.value)
    assert "\n" not in message
    assert re.match(
        r"loss became (nan|inf|-inf) at epoch 2, step \d+; kept the last good checkpoint in ", message
    )
    run_dir = run_in_tmp / "runs" / "nan"
    assert str(run_dir.relative_to(run_in_tmp)) in message and "(epoch 1)" in message
    last = load_checkpoint(run_dir / "last.pt")
    assert last["epoch"] == 1 and [r["epoch"] for r in last["history"]] == [1]
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())
    assert math.isfinite(last["history"][0]["train"]["loss"])
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1
    assert not (run_dir / "results.json").exists()
    assert not list(run_dir.glob(".*.tmp"))


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
            "you tried to allocate 4831838208 bytes."
        ),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nGPU 0 has 79 GiB ..."),
    ],
)
def test_running_out_of_memory_says_so_and_suggests_fit(
    run_in_tmp: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def exhausted(*args, **kwargs):
        raise error

    monkeypatch.setattr(engine, "train_one_epoch", exhausted)
    with pytest.raises(engine.OutOfMemory) as info:
        train(None, overrides=FAST + ["data.batch_size=32"], echo=lambda _: None)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("out of memory training digits_cnn at batch 32 on cpu (")
    assert "lower data.batch_size" in message and "archlab summary CONFIG --fit " in message


def test_other_runtime_errors_pass_through(run_in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)")

    monkeypatch.setattr(engine, "train_one_epoch", broken)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        train(None, overrides=FAST, echo=lambda _: None)


def test_unknown_model_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'digits_cn'; did you mean 'digits_cnn'"):
        train(None, overrides=FAST + ["model.name=digits_cn"], echo=lambda _: None)


def test_model_that_cannot_take_the_input() -> None:
    with pytest.raises(ValueError) as info:
        train(None, overrides=["run.summary=false", "model.name=mnist_net1"], echo=lambda _: None)
    message = str(info.value)
    assert message.startswith("model 'mnist_net1' cannot take inputs of 1x8x8 (its default input is 1x28x28)")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epochs=0", "train.epochs must be at least 1, got 0"),
        ("train.accumulate=0", "train.accumulate must be at least 1, got 0"),
        ("model.num_classes=3", "model.num_classes is 3 but dataset 'digits' has 10 classes"),
        ("model.in_chans=3", "model.in_chans is 3 but dataset 'digits' has 1 bands"),
        ("train.monitor=val/acc", "there is no validation split; set data.val_split=0.1"),
        ("train.monitor=acc", "train.monitor expects split/metric"),
        ("run.device=cuda:99" if not torch.cuda.is_available() else "run.device=nope", "run.device"),
        ("train.class_weights=[1, 2]", "train.class_weights has 2 entries but there are 10 classes"),
    ],
)
def test_user_mistakes_are_one_line_value_errors(override: str, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        train(None, overrides=FAST + [override], echo=lambda _: None)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_unknown_model_kwarg_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"widht.*width"):
        train(None, overrides=FAST + ["model.kwargs.widht=8"], echo=lambda _: None)


def test_determinism_can_be_switched_off_again() -> None:
    set_determinism(True)
    set_determinism(False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_engine_module_is_importable_by_dotted_path() -> None:
    import importlib

    import archlab

    assert importlib.import_module("archlab.train.engine") is engine  # sys.modules is fine ...
    exec("import archlab.train.engine as by_path", namespace := {})  # ... the attribute path is not
    assert namespace["by_path"] is engine and callable(archlab.train)


def test_monitor_of() -> None:
    cfg = build_config({}, [])
    assert monitor_of(cfg, False, "single_label") == ("test/acc", "max")
    assert monitor_of(cfg, True, "single_label") == ("val/acc", "max")
    assert monitor_of(cfg, True, "multi_label") == ("val/macro_f1", "max")
    assert monitor_of(build_config({}, ["train.monitor=val/loss"]), True, "single_label") == (
        "val/loss",
        "min",
    )


# ---- the results block --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (14, "14th"),
        (15, "15th"),
        (20, "20th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (111, "111th"),
        (112, "112th"),
    ],
)
def test_ordinal(n: int, text: str) -> None:
    assert recording.ordinal(n) == text


def test_short_counts_match_the_seed() -> None:
    assert [recording.short_count(n) for n in (13_808, 5_048, 7_902)] == ["13.8k", "5.0k", "7.9k"]
    assert recording.short_count(999) == "999" and recording.short_count(1_975_770) == "1.98M"


def test_results_block_in_seed_001_form() -> None:
    """Seed 001 Model 1: 13.8k parameters, best train 98.95, best test 99.41 in the 15th epoch."""
    history = [
        {
            "epoch": e,
            "train": {"acc": tr, "time_s": 1.0, "images_per_s": 10.0},
            "test": {"acc": te},
            "wall_time_s": float(e),
        }
        for e, tr, te in [(13, 0.9895, 0.9938), (14, 0.9894, 0.9941), (15, 0.9890, 0.9941)]
    ]
    results = recording.summarize_history(history, 13_808, "test/acc", 14)
    assert results["best_test_epoch"] == 14  # the first epoch reaching the best accuracy
    assert results["best_train_acc"] == 0.9895 and results["best_train_epoch"] == 13
    assert results["selected_test_acc"] == 0.9941 and results["final_test_acc"] == 0.9941
    assert results["train_time_s"] == 3.0 and results["mean_images_per_s"] == 10.0
    block = recording.results_block(results).splitlines()
    assert block[:5] == [
        "===================",
        "Results:",
        "Parameters: 13,808 (13.8k)",
        "Best Train Accuracy: 98.95",
        "Best Test Accuracy: 99.41 (14th Epoch)",
    ]
    assert block[-1] == "===================" and not any(line.startswith("Best Val") for line in block)


# ---- run directory helpers ----------------------------------------------------------------------


def test_new_run_dir_never_reuses_a_name(run_in_tmp: Path) -> None:
    first = RunDir.create("runs", "exp", "m", "d").path
    second = RunDir.create("runs", "exp", "m", "d").path
    third = RunDir.create("runs", "exp", "m", "d").path
    assert [p.name for p in (first, second, third)] == ["exp", "exp-2", "exp-3"]
    auto = RunDir.create("runs", None, "digits_cnn", "digits").path
    assert re.fullmatch(r"digits_cnn-digits-\d{8}-\d{6}", auto.name)


def test_flat_row_and_read_history(run_in_tmp: Path) -> None:
    record = {"epoch": 1, "lr": 0.1, "test": {"acc": 0.5, "confusion": [[1]], "name": "x"}, "flag": True}
    assert flat_row(record) == {"epoch": 1, "lr": 0.1, "test/acc": 0.5, "test/name": "x"}
    RunDir(run_in_tmp).write_metrics([record, {**record, "epoch": 2}])
    assert [r["epoch"] for r in RunDir(run_in_tmp).read_history()] == [1, 2]
    assert (run_in_tmp / "metrics.csv").read_text().splitlines()[0] == "epoch,lr,test/acc,test/name"
    assert RunDir(run_in_tmp / "missing").read_history() == []


def test_config_yaml_is_plain_yaml(two_epochs) -> None:
    result, _, _ = two_epochs
    data = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert set(data) >= {"model", "data", "optim", "sched", "train", "run"}
