"""Checkpoints written atomically, read with one-line errors; a run killed mid-epoch resumes exactly."""

from __future__ import annotations

import json
import os
import queue
import random
import re
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from archlab.rundir import atomic_write_text, load_checkpoint, save_checkpoint
from archlab.train import train
from archlab.train.state import rng_state, set_rng_state

pytestmark = pytest.mark.usefixtures("run_in_tmp")

TIMING = {"time_s", "images_per_s", "eval_time_s", "wall_time_s"}  # wall-clock figures differ between runs


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---- atomic writes and checkpoint errors --------------------------------------------------------


def test_atomic_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.jsonl"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]
    save_checkpoint({"model": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "last.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "metrics.jsonl"]
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 3


def test_failed_checkpoint_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {}, "epoch": 1}, path)
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - whatever pickle raises for a lambda
        save_checkpoint({"model": {}, "epoch": 2, "bad": lambda: None}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_atomic_writes_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "config.yaml", "a: 1\n")
        save_checkpoint({"model": {}}, tmp_path / "best.pt")
        (tmp_path / "plain.txt").write_text("a")
    finally:
        os.umask(old)
    plain = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "config.yaml").stat().st_mode) == plain == 0o644
    assert stat.S_IMODE((tmp_path / "best.pt").stat().st_mode) == plain


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"checkpoint '.*last\.pt' not found; pass a run directory"):
        load_checkpoint(tmp_path / "last.pt")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_checkpoint_is_a_one_line_value_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.randn(100, 100)}, "epoch": 1}, path)
    data = path.read_bytes()
    path.write_bytes(
        {"garbage": b"not a checkpoint at all", "truncated": data[: len(data) // 2], "empty": b""}[damage]
    )
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"checkpoint {str(path)!r} is unreadable (") and "truncated" in message
    assert "\n" not in message


def test_foreign_checkpoint_is_rejected(tmp_path: Path) -> None:
    torch.save([1, 2, 3], tmp_path / "list.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    for name in ("list.pt", "other.pt"):
        with pytest.raises(ValueError, match="is not an archlab checkpoint"):
            load_checkpoint(tmp_path / name)


def test_rng_state_round_trip() -> None:
    state = rng_state()
    draws = (torch.rand(3), random.random(), np.random.rand())
    set_rng_state(state)
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(draws[0], again[0]) and draws[1:] == again[1:]


# ---- resume -----------------------------------------------------------------------------------------


class _StopAfterEpoch(Exception):
    pass


def interrupted_run(name: str, overrides: list[str], stop_at: int = 1) -> Path:
    """Train until the line of epoch ``stop_at`` is printed (its checkpoint written), then stop, in-process."""

    def echo(line: str) -> None:
        if line.startswith(f"epoch {stop_at}/"):
            raise _StopAfterEpoch

    with pytest.raises(_StopAfterEpoch):
        train(None, overrides=overrides + [f"run.name={name}"], echo=echo)
    return Path("runs") / name


SMALL = ["model.kwargs.width=8", "run.summary=false", "run.progress=false", "run.threads=1", "train.epochs=2"]


def test_resume_needs_a_run_directory(run_in_tmp: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        train(None, resume=run_in_tmp)
    (run_in_tmp / "config.yaml").write_text("train:\n  epochs: 1\n")
    with pytest.raises(FileNotFoundError, match="last.pt' not found"):
        train(None, resume=run_in_tmp)


def test_in_process_interruption_resumes_exactly(run_in_tmp: Path) -> None:
    """Stopped right after epoch 1's checkpoint, the resumed run ends like the uninterrupted one."""
    overrides = SMALL + ["run.deterministic=true", "data.augment.crop_padding=1", "data.augment.mixup=0.2"]
    run_dir = interrupted_run("cut", overrides)
    assert [r["epoch"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [1]
    lines: list[str] = []
    resumed = train(None, resume=run_dir, echo=lines.append)
    assert "resuming at epoch 2 of 2" in lines
    full = train(None, overrides=overrides + ["run.name=full"], echo=lambda _: None)
    assert without_timing(read_jsonl(run_dir / "metrics.jsonl")) == without_timing(
        read_jsonl(full.run_dir / "metrics.jsonl")
    )
    assert resumed.run_dir == run_dir and {p.name for p in run_dir.iterdir()} >= {"results.json", "best.pt"}


def test_resume_override_of_the_learning_rate_is_not_silently_ignored() -> None:
    run_dir = interrupted_run("lr", SMALL + ["sched.name=none", "optim.lr=0.05"])
    try:
        resumed = train(None, resume=run_dir, overrides=["optim.lr=0.001"], echo=lambda _: None)
    except ValueError as exc:  # refusing the override is as good as applying it
        assert "optim.lr" in str(exc)
        return
    assert resumed.history[-1]["lr"] == pytest.approx(0.001)


def test_resume_with_more_epochs_extends_or_explains() -> None:
    run_dir = interrupted_run("more", SMALL)
    try:
        resumed = train(None, resume=run_dir, overrides=["train.epochs=3"], echo=lambda _: None)
    except ValueError as exc:
        assert "train.epochs" in str(exc)
        return
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


# ---- the kill test ------------------------------------------------------------------------------------

KILL_RUN = [
    "model.kwargs.width=16",
    "data.batch_size=32",
    "train.epochs=4",
    "run.deterministic=true",
    "run.progress=false",
    "run.threads=1",
    "data.augment.rotation=10",
    "data.augment.crop_padding=1",
    "data.augment.mixup=0.2",
    "train.ema=0.9",
    "train.label_smoothing=0.1",
]


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(
    run_in_tmp: Path, archlab_subprocess, run_cli
) -> None:
    """On CPU in deterministic mode, SIGKILL during epoch 2 then --resume ends with exactly the same metrics."""
    argv, env = archlab_subprocess(
        "train", *[a for s in KILL_RUN for a in ("--set", s)], "--set", "run.name=killed"
    )
    proc = subprocess.Popen(
        argv, cwd=run_in_tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    output, deadline = [], time.monotonic() + 240
    try:
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "the training subprocess ended before epoch 1:\n" + "".join(output)
            output.append(line)
            m = re.match(r"epoch 1/4 \|.* \| (\d+\.\d)s \(", line)
            if m:
                # last.pt of epoch 1 is on disk before this line and epoch 2 starts right after it: let a
                # few of its 45 steps run, staying well clear of its end-of-epoch checkpoint write.
                time.sleep(min(0.3, max(0.05, float(m.group(1)) / 8)))
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    run_dir = run_in_tmp / "runs" / "killed"
    killed_at = load_checkpoint(run_dir / "last.pt")["epoch"]
    assert 1 <= killed_at < 4 and not (run_dir / "results.json").exists(), "".join(output)
    assert [r["epoch"] for r in read_jsonl(run_dir / "metrics.jsonl")] == list(range(1, killed_at + 1))

    result = run_cli("train", "--resume", str(run_dir))
    assert result.rc == 0, result.err
    assert f"resuming at epoch {killed_at + 1} of 4" in result.out

    full = train(None, overrides=KILL_RUN + ["run.name=full"], echo=lambda _: None)
    resumed, uninterrupted = read_jsonl(run_dir / "metrics.jsonl"), read_jsonl(full.run_dir / "metrics.jsonl")
    assert [r["epoch"] for r in resumed] == [1, 2, 3, 4]
    assert without_timing(resumed) == without_timing(uninterrupted)  # every loss, accuracy, F1, lr, confusion
    for name in ("last.pt", "best.pt"):
        a, b = load_checkpoint(run_dir / name), load_checkpoint(full.run_dir / name)
        assert a["epoch"] == b["epoch"] and a["model"].keys() == b["model"].keys()
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (run_dir, full.run_dir))
    drop = {"wall_time_s", "train_time_s", "mean_images_per_s", "run_dir", "environment"}
    assert {k: v for k, v in ra.items() if k not in drop} == {k: v for k, v in rb.items() if k not in drop}
    shutil.rmtree(run_in_tmp / "runs")
