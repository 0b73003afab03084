"""A full disk during a checkpoint write: one line, the last good checkpoint kept, and resume continues."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from archlab.cli import main
from archlab.rundir import DiskFull, RunDir, layout
from archlab.train import train

pytestmark = pytest.mark.usefixtures("run_in_tmp")

SMALL = ["model.kwargs.width=8", "run.summary=false", "run.progress=false", "run.threads=1", "data.limit=200"]


@pytest.fixture
def disk_full_at_epoch_2():
    """torch.save writes epoch 2's checkpoints to /dev/full: torch's own error for a full disk."""
    real = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            return real(obj, "/dev/full", *args, **kwargs)
        return real(obj, f, *args, **kwargs)

    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    patch = pytest.MonkeyPatch()
    patch.setattr(layout.torch, "save", save)
    yield patch
    patch.undo()


def test_full_disk_keeps_the_last_checkpoint_and_resumes(disk_full_at_epoch_2) -> None:
    with pytest.raises(DiskFull) as info:
        train(None, overrides=SMALL + ["train.epochs=3", "run.name=full"], echo=lambda _: None)
    message = str(info.value)
    run = Path("runs/full")
    assert "\n" not in message
    assert message.startswith(f"no space left on the device writing {run / 'best.pt'} (")
    assert " free there); last.pt still holds epoch 1; free space, then continue with: " in message
    assert message.endswith("archlab train --resume runs/full")
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []  # no temporary file left
    assert RunDir(run).load_checkpoint("last")["epoch"] == 1

    disk_full_at_epoch_2.undo()  # space freed
    result = train(None, resume=run, echo=lambda _: None)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]


def test_the_cli_says_it_in_one_line(disk_full_at_epoch_2, capsys: pytest.CaptureFixture) -> None:
    argv = ["train", *[a for kv in SMALL + ["train.epochs=3", "run.name=cli"] for a in ("--set", kv)]]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("archlab: error: no space left on the device writing ")
    assert "archlab train --resume runs/cli" in err


def test_text_files_fail_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rd = RunDir(tmp_path)
    rd.write_metrics([{"epoch": 1}])
    real_open = open

    def full_open(path, mode="r", *args, **kwargs):
        if "w" in mode and Path(path).name.startswith(".metrics.jsonl"):
            return real_open("/dev/full", mode, *args, **kwargs)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_open)
    with pytest.raises(DiskFull, match=r"writing .*metrics\.jsonl \(.* free there\)"):
        rd.write_metrics([{"epoch": 1}, {"epoch": 2}])
    monkeypatch.undo()
    assert rd.read_history() == [{"epoch": 1}]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
