"""Epoch callbacks: called after every epoch with its record, able to stop a run that then resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from archlab.config import build_config
from archlab.rundir import RunDir
from archlab.train import Callback, EarlyStopping, RunInterrupted, RunState, train

pytestmark = pytest.mark.usefixtures("run_in_tmp")

SMALL = ["model.kwargs.width=8", "run.summary=false", "run.progress=false", "run.threads=1", "data.limit=200"]
QUIET = {"echo": lambda _: None}


class StopAt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch, self.seen = epoch, []

    def on_epoch_end(self, run: RunState, record: dict) -> bool:
        self.seen.append((record["epoch"], round(record["test"]["acc"], 6), run.epoch, len(run.history)))
        if record["epoch"] == self.epoch:
            self.reason = f"asked to stop at epoch {self.epoch}"
            return True
        return False


def epochs_of(run_dir: Path) -> list[int]:
    return [r["epoch"] for r in RunDir(run_dir).read_history()]


def test_a_callback_stops_the_run_and_resume_continues() -> None:
    stop = StopAt(2)
    lines: list[str] = []
    result = train(
        None, overrides=SMALL + ["train.epochs=4", "run.name=cut"], callbacks=[stop], echo=lines.append
    )
    # called once per epoch with that epoch's record, after the record joined the history
    assert [(e, n) for e, _, _, n in stop.seen] == [(1, 1), (2, 2)]
    assert [e for e, _, run_epoch, _ in stop.seen] == [run_epoch for _, _, run_epoch, _ in stop.seen]
    assert [acc for _, acc, _, _ in stop.seen] == [round(r["test"]["acc"], 6) for r in result.history]
    assert epochs_of(result.run_dir) == [1, 2]
    assert result.results["stopped_early"] is True and result.results["stopped_by"] == "StopAt"
    assert result.results["stop_reason"] == "asked to stop at epoch 2"
    assert "asked to stop at epoch 2" in lines
    assert RunDir(result.run_dir).load_checkpoint("last")["epoch"] == 2

    resumed = train(None, resume=result.run_dir, **QUIET)
    assert epochs_of(result.run_dir) == [1, 2, 3, 4]
    assert resumed.results["stopped_early"] is False and resumed.results["epochs_run"] == 4


def test_hooks_are_optional_and_called_in_order() -> None:
    calls: list[str] = []

    class OnlyEnd:  # no base class, only one hook
        def on_train_end(self, run: RunState, results: dict) -> None:
            calls.append(f"end {results['epochs_run']} {run.params}")

    class All(Callback):
        def on_train_start(self, run: RunState) -> None:
            calls.append(f"start {run.epochs} {run.monitor}")

        def on_epoch_end(self, run: RunState, record: dict) -> None:
            calls.append(f"epoch {record['epoch']}")

    train(None, overrides=SMALL + ["train.epochs=2"], callbacks=[All(), OnlyEnd()], **QUIET)
    assert calls == ["start 2 test/acc", "epoch 1", "epoch 2", "end 2 4370"]


def test_early_stopping_is_a_callback() -> None:
    cfg = build_config({}, ["train.early_stopping=2"])
    from archlab.train.callbacks import default_callbacks

    assert [type(cb).__name__ for cb in default_callbacks(cfg)] == ["EarlyStopping", "WriteReport"]
    es = EarlyStopping(2)
    run = RunState(cfg, RunDir("x"), 10, "val/acc", "max", None, print, epoch=5, best_value=0.9, best_epoch=3)
    run.bad_epochs = 1
    assert es.on_epoch_end(run, {}) is False
    run.bad_epochs = 2
    assert es.on_epoch_end(run, {}) is True
    assert es.reason == "early stopping: val/acc has not improved for 2 epochs (best 0.9000 at epoch 3)"
    with pytest.raises(ValueError, match="patience of at least 1"):
        EarlyStopping(0)


def test_report_callback_follows_run_report() -> None:
    from archlab.train.callbacks import default_callbacks

    assert default_callbacks(build_config({}, ["run.report=false"])) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_with_where_and_how_to_resume(signum: int) -> None:
    class Kill(Callback):
        def on_epoch_end(self, run: RunState, record: dict) -> None:
            if record["epoch"] == 2:
                os.kill(os.getpid(), signum)

    with pytest.raises(RunInterrupted) as info:
        train(None, overrides=SMALL + ["train.epochs=3", "run.name=sig"], callbacks=[Kill()], **QUIET)
    message = str(info.value)
    what = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    assert "\n" not in message and info.value.signum == signum
    assert message.startswith(f"stopped by {what} after epoch 2; last.pt holds epoch 2, best.pt holds epoch ")
    assert message.endswith("resume at epoch 3 with: archlab train --resume runs/sig")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back
    train(None, resume="runs/sig", **QUIET)
    assert epochs_of(Path("runs/sig")) == [1, 2, 3]


@pytest.mark.slow
def test_sigterm_to_the_cli_prints_one_line_and_exits_143(archlab_subprocess) -> None:
    argv, env = archlab_subprocess(
        "train", *[a for kv in SMALL + ["train.epochs=400", "run.name=pre"] for a in ("--set", kv)]
    )
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("epoch   1/"):
            proc.send_signal(signal.SIGTERM)
            break
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("archlab: stopped by SIGTERM ") and "archlab train --resume runs/pre" in err
    last = RunDir("runs/pre").load_checkpoint("last")["epoch"]
    assert f"last.pt holds epoch {last};" in err or f"last.pt holds epoch {last}," in err
    assert json.loads(Path("runs/pre/metrics.jsonl").read_text().splitlines()[-1])["epoch"] == last
