"""Distributed data-parallel training: two CPU processes with gloo under torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from archlab.config import load_config
from archlab.data import load_dataset
from archlab.data.augment import BatchTransform
from archlab.data.loader import BatchLoader
from archlab.models import create_model
from archlab.train.distributed import shard
from archlab.train.evaluate import evaluate

SRC = Path(__file__).resolve().parents[2] / "src"

WORKER = """
import os, sys, torch, archlab
out = sys.argv[1]
result = archlab.train(None, overrides=[f"run.out_dir={out}", "run.name=ddp", "train.epochs=2", "run.summary=false",
                                        "run.progress=false", "run.deterministic=true"])
torch.save(result.model.state_dict(), os.path.join(out, f"rank{os.environ['RANK']}.pt"))
"""


def test_shard_interleaves_and_pads() -> None:
    order = torch.arange(7)
    parts = [shard(order, r, 3) for r in range(3)]
    assert [p.tolist() for p in parts] == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]
    assert torch.equal(shard(order, 0, 1), order)


@pytest.mark.slow
def test_two_gloo_processes_train_identical_replicas(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0 = torch.load(tmp_path / "rank0.pt")
    w1 = torch.load(tmp_path / "rank1.pt")
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # Only rank 0 wrote the run directory, and its reported test metrics equal a single-process evaluation.
    records = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    cfg = load_config(None)
    data = load_dataset(cfg.data)
    model = create_model("digits_cnn")
    model.load_state_dict(w0)
    loader = BatchLoader(data.test, 1000, shuffle=False)
    ref = evaluate(model, loader, BatchTransform(data.mean, data.std, data.scale), data.num_classes)
    assert records[-1]["test"]["acc"] == pytest.approx(ref["acc"], abs=0)
    assert records[-1]["test"]["loss"] == pytest.approx(ref["loss"], rel=1e-6)
    assert records[-1]["test"]["confusion"] == ref["confusion"]
    assert not (tmp_path / "ddp-2").exists()
