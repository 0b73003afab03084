"""The ``archlab`` command line: train (the embedded default), models, summary, and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from archlab.train import TrainingDiverged

pytestmark = pytest.mark.usefixtures("run_in_tmp")

RUN_FILES = {
    "config.yaml",
    "metrics.jsonl",
    "metrics.csv",
    "summary.txt",
    "results.json",
    "best.pt",
    "last.pt",
    "report.md",
    "report.html",
    "report",
}


def assert_one_line_error(result, *needles: str) -> None:
    """Exit code 2, nothing on stdout, a single 'archlab: error: ...' line on stderr naming ``needles``."""
    assert result.rc == 2, (result.rc, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("archlab: error: "), result.err
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# ---- train ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_default_train_for_one_epoch_writes_every_run_file(run_cli, run_in_tmp: Path) -> None:
    """``archlab train`` alone trains digits_cnn on digits; here for one epoch on one CPU thread (two OpenMP
    threads on a shared two-core machine make the first epoch ten times slower)."""
    result = run_cli("train", "--set", "train.epochs=1", "--set", "run.threads=1")
    assert result.rc == 0, result.err
    (run_dir,) = (run_in_tmp / "runs").iterdir()
    assert re.fullmatch(r"digits_cnn-digits-\d{8}-\d{6}", run_dir.name)
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES
    out = result.out
    assert f"run directory: {Path('runs') / run_dir.name}" in out
    assert "model: digits_cnn (65,834 parameters) | data: digits train 1,437 / test 360 | input 1x8x8" in out
    # The model summary table, also saved as summary.txt.
    summary = (run_dir / "summary.txt").read_text()
    assert "65,834" in summary and "Conv2d" in summary and summary.strip() in out
    # One line per epoch with train and test metrics, then the results block.
    assert re.search(
        r"^epoch 1/1 \| train loss \d+\.\d{4} acc \d+\.\d\d% \| test loss \d+\.\d{4} acc \d+\.\d\d% "
        r"\| lr \S+ \| \d+\.\ds \([\d,]+ img/s\) \*$",
        out,
        re.M,
    )
    results = json.loads((run_dir / "results.json").read_text())
    block = (
        "===================\nResults:\nParameters: 65,834 (65.8k)\n"
        f"Best Train Accuracy: {100 * results['best_train_acc']:.2f}\n"
        f"Best Test Accuracy: {100 * results['best_test_acc']:.2f} (1st Epoch)\n"
    )
    assert block in out and out.rstrip().endswith("===================")
    # The live progress bar goes to stderr.
    assert "epoch 1/1" in result.err and "batch" in result.err
    # The resolved config is the embedded default with the one override.
    from archlab.config import load_config

    assert load_config(run_dir / "config.yaml") == load_config(None, ["train.epochs=1", "run.threads=1"])
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 2


def test_print_config(run_cli, configs_dir: Path) -> None:
    import yaml

    result = run_cli(
        "train",
        "--config",
        str(configs_dir / "mnist" / "net2.yaml"),
        "--set",
        "train.epochs=3",
        "--print-config",
    )
    assert result.rc == 0, result.err
    data = yaml.safe_load(result.out)
    assert (
        data["model"]["name"] == "mnist_net2"
        and data["train"]["epochs"] == 3
        and data["data"]["name"] == "mnist"
    )
    assert not Path("runs").exists()  # printing trains nothing


def test_unknown_key_suggests_the_closest(run_cli) -> None:
    assert_one_line_error(
        run_cli("train", "--set", "train.epoch=3"), "'train.epoch'", "did you mean 'train.epochs'?"
    )
    assert not Path("runs").exists()


def test_wrong_type_names_key_and_type(run_cli) -> None:
    assert_one_line_error(
        run_cli("train", "--set", "train.epochs=ten"), "'train.epochs'", "expects an integer", "'ten'"
    )


def test_unknown_model_suggests_the_closest(run_cli) -> None:
    result = run_cli("train", "--set", "model.name=mnist_nett1", "--set", "run.summary=false")
    assert_one_line_error(result, "unknown model 'mnist_nett1'", "did you mean 'mnist_net1'")


def test_bad_choice(run_cli) -> None:
    assert_one_line_error(run_cli("train", "--set", "optim.name=sdg"), "'optim.name'", "did you mean 'sgd'?")


def test_missing_config_file(run_cli) -> None:
    assert_one_line_error(run_cli("train", "--config", "configs/nope.yaml"), "'configs/nope.yaml' not found")


def test_malformed_set(run_cli) -> None:
    assert_one_line_error(run_cli("train", "--set", "train.epochs"), "--set expects key=value")


def test_resume_errors(run_cli, run_in_tmp: Path, configs_dir: Path) -> None:
    assert_one_line_error(run_cli("train", "--resume", str(run_in_tmp)), "is not a run directory")
    result = run_cli("train", "--resume", str(run_in_tmp), "--config", str(configs_dir / "digits.yaml"))
    assert_one_line_error(result, "--resume continues a run with its own config")


def test_missing_mnist_files_end_in_a_clear_error(run_cli, configs_dir: Path, run_in_tmp: Path) -> None:
    result = run_cli(
        "train",
        "-c",
        str(configs_dir / "mnist" / "net1.yaml"),
        "--set",
        "data.download=false",
        "--set",
        f"data.root={run_in_tmp / 'empty'}",
    )
    assert_one_line_error(result, f"mnist not found under {run_in_tmp / 'empty'}", "MNIST/raw/")


def test_unknown_model_is_reported_before_the_data_is_loaded(
    run_cli, configs_dir: Path, run_in_tmp: Path
) -> None:
    result = run_cli(
        "train",
        "-c",
        str(configs_dir / "mnist" / "net1.yaml"),
        "--set",
        "model.name=mnist_nett1",
        "--set",
        "data.download=false",
        "--set",
        f"data.root={run_in_tmp / 'empty'}",
    )
    assert_one_line_error(result, "unknown model 'mnist_nett1'", "did you mean 'mnist_net1'")


def test_unknown_model_kwarg_is_a_one_line_error(run_cli) -> None:
    assert_one_line_error(
        run_cli("train", "--set", "model.kwargs.widht=8", "--set", "run.summary=false"), "widht"
    )


def test_divergence_exits_with_code_1(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """TrainingDiverged is reported on one line with exit code 1 (a failed run, not a usage error)."""
    from archlab.train import engine

    def diverge(*args, **kwargs):
        raise TrainingDiverged(
            "loss became nan at epoch 2, step 20; kept the last good checkpoint in runs/x (epoch 1)"
        )

    monkeypatch.setattr(engine, "train", diverge)
    result = run_cli("train")
    assert result.rc == 1 and result.err == (
        "archlab: error: loss became nan at epoch 2, step 20; kept the last good checkpoint in runs/x (epoch 1)\n"
    )


def test_interrupt_tells_how_to_resume(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from archlab.train import engine

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "train", interrupt)
    result = run_cli("train")
    assert result.rc == 130 and "archlab train --resume RUN_DIR" in result.err


# ---- models, summary, top level ------------------------------------------------------------------


def test_models_lists_seed_models_with_parameter_counts(run_cli) -> None:
    result = run_cli("models", "mnist*")
    assert result.rc == 0, result.err
    rows = {
        line.split()[0]: line.split()[1] for line in result.out.splitlines()[2:] if line.startswith("mnist")
    }
    assert rows == {"mnist_net1": "13,808", "mnist_net2": "5,048", "mnist_net3": "7,902"}
    assert re.search(r"^3 models\b", result.out, re.M)


def test_models_json(run_cli) -> None:
    result = run_cli("models", "digits*", "--format", "json")
    assert result.rc == 0, result.err
    (row,) = json.loads(result.out)
    assert row["name"] == "digits_cnn" and row["params"] == 65_834 and row["input_size"] == [1, 8, 8]


@pytest.mark.slow
def test_models_lists_every_registered_model(run_cli) -> None:
    from archlab.models import list_models

    result = run_cli("models", "--no-macs")
    assert result.rc == 0, result.err
    lines = result.out.rstrip().splitlines()
    counts = {line.split()[0]: line.split()[1] for line in lines[2:-1]}
    assert list(counts) == list_models() and re.match(rf"^{len(counts)} models\b", lines[-1])
    assert counts["digits_cnn"] == "65,834" and counts["mnist_net3"] == "7,902"
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", c) for c in counts.values())


def test_models_unknown_pattern(run_cli) -> None:
    assert_one_line_error(run_cli("models", "zzz*"), "no registered model matches 'zzz*'")


def test_summary_of_a_seed_model(run_cli) -> None:
    result = run_cli("summary", "mnist_net1", "--format", "json")
    assert result.rc == 0, result.err
    assert json.loads(result.out)["totals"]["params"] == 13_808


def test_summary_unknown_model(run_cli) -> None:
    assert_one_line_error(run_cli("summary", "mnist_nett3"), "did you mean 'mnist_net3'")


def test_help_lists_the_commands(run_cli) -> None:
    result = run_cli("--help")
    assert result.rc == 0
    for command in ("train", "models", "summary", "diff"):
        assert re.search(rf"^\s+{command}\s", result.out, re.M), command


def test_no_command_is_a_usage_error(run_cli) -> None:
    result = run_cli()
    assert result.rc == 2 and "usage: archlab" in result.err


def test_version(run_cli) -> None:
    from archlab import __version__

    result = run_cli("--version")
    assert result.rc == 0 and result.out.strip() == f"archlab {__version__}"
