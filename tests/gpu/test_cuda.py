"""The CUDA paths, for ``make gpu-check`` on a lent GPU; every test here is skipped without CUDA.

AMP bf16 and fp16 training, channels_last, the whole step compiled by inductor, uint16
batches normalised on the device, activation memory against the CUDA allocator, a
one-process NCCL run, and a checkpoint written on CUDA resumed on the CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from archlab.data.augment import BatchTransform
from archlab.inspect.summary import summarize
from archlab.models import create_model
from archlab.rundir import load_checkpoint
from archlab.train import train

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here"),
    pytest.mark.usefixtures("run_in_tmp"),
]

QUICK = ["run.summary=false", "run.progress=false", "data.limit=600", "train.epochs=1", "run.device=cuda"]
SRC = Path(__file__).resolve().parents[2] / "src"


class _Stop(Exception):
    pass


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_training_steps(amp: str) -> None:
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    result = train(None, overrides=QUICK + [f"train.amp={amp}", f"run.name={amp}"], echo=lambda _: None)
    train_loss = result.history[0]["train"]["loss"]
    assert torch.isfinite(torch.tensor(train_loss)) and train_loss < 2.3  # below chance after one epoch
    ckpt = load_checkpoint(result.run_dir / "last.pt")
    assert ckpt["config"]["train"]["amp"] == amp
    if amp == "fp16":  # the grad scaler ran and kept a finite scale
        assert 0 < ckpt["scaler"]["scale"] < float("inf")


def test_channels_last_run() -> None:
    result = train(None, overrides=QUICK + ["train.channels_last=true", "run.name=cl"], echo=lambda _: None)
    convs = [m for m in result.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)


def test_the_whole_step_compiled_by_inductor() -> None:
    overrides = QUICK + ["train.epochs=2", "data.limit=0"]
    lines: list[str] = []
    compiled = train(None, overrides=overrides + ["train.compile=true", "run.name=c"], echo=lines.append)
    eager = train(None, overrides=overrides + ["run.name=e"], echo=lambda _: None)
    first, second = (r["train"] for r in compiled.history)
    assert first["compile_s"] > 0 and second["compile_s"] < first["compile_s"]
    assert any("s compiling)" in line for line in lines)
    for got, want in zip(compiled.history, eager.history, strict=True):  # fused kernels round differently
        assert got["train"]["loss"] == pytest.approx(want["train"]["loss"], rel=0.05)


def test_uint16_batches_normalise_on_the_device() -> None:
    x = torch.randint(0, 10_000, (4, 3, 16, 16), dtype=torch.int32).to(torch.uint16)
    y = torch.zeros(4, dtype=torch.long)
    tf = BatchTransform([1000.0, 1200.0, 900.0], [500.0, 450.0, 600.0], scale=1.0)
    on_cpu, _ = tf(x, y, torch.Generator().manual_seed(0))
    on_gpu, _ = tf(x.cuda(), y.cuda(), torch.Generator().manual_seed(0))
    assert on_gpu.device.type == "cuda" and on_gpu.dtype == torch.float32
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    "name, size, batch", [("resnet18", (3, 64, 64), 16), ("mnist_net3", (1, 28, 28), 64)]
)
def test_activation_memory_against_the_cuda_allocator(name: str, size: tuple, batch: int) -> None:
    model = create_model(name)
    predicted = summarize(model, size, batch_size=batch).activation_bytes  # meta: allocates nothing
    model = model.cuda().train()
    x = torch.randn(batch, *size, device="cuda")
    model(x)  # kernels and workspaces loaded
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    out = model(x)
    torch.cuda.synchronize()
    kept = torch.cuda.memory_allocated() - before - out.numel() * out.element_size()
    assert 0.9 <= kept / predicted <= 1.15, f"kept {kept:,} B, predicted {predicted:,} B"


def test_one_process_nccl_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=1",
        "--master_port=29533",
        "-m",
        "archlab",
        "train",
        "--set",
        "run.device=cuda",
        "--set",
        "train.epochs=1",
        "--set",
        "run.progress=false",
        "--set",
        f"run.out_dir={tmp_path}",
        "--set",
        "run.name=nccl",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "nccl" / "best.pt").is_file()


def test_a_cuda_checkpoint_resumes_on_the_cpu() -> None:
    def echo(line: str) -> None:
        if line.startswith("epoch 1/"):
            raise _Stop

    overrides = [
        "run.summary=false",
        "run.progress=false",
        "train.epochs=2",
        "run.device=cuda",
        "run.name=move",
    ]
    with pytest.raises(_Stop):
        train(None, overrides=overrides, echo=echo)
    saved = load_checkpoint(Path("runs/move/last.pt"))
    assert "cuda" in saved["rng"]
    resumed = train(None, resume="runs/move", overrides=["run.device=cpu"], echo=lambda _: None)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert next(resumed.model.parameters()).device.type == "cpu"
