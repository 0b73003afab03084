"""``train.compile``: the whole step compiled, one set of graphs for a onecycle run, the same training as eager.

The runs compile with the ``aot_eager`` backend: dynamo's graphs and guards (which decide
recompilation) and AOTAutograd's backward are the real ones; only inductor's C++ code
generation, a minute per graph on this CPU, is left out. Inductor itself is measured by
``benchmarks/bench_cpu_compile.py`` and, on CUDA, by ``make gpu-check``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch._dynamo.utils import counters

from archlab.config import Config
from archlab.rundir import load_checkpoint
from archlab.train import compiled, train
from archlab.train.compiled import compile_seconds, set_lr_tensors

pytestmark = pytest.mark.usefixtures("run_in_tmp")

SMALL = ["model.kwargs.width=8", "run.summary=false", "run.progress=false", "run.threads=1", "train.epochs=2"]
STEPS_PER_EPOCH = math.ceil(1437 / Config().data.batch_size)  # digits' training split


class _Stop(Exception):
    pass


@pytest.fixture
def aot_eager(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(compiled, "BACKEND", "aot_eager")
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def first_epoch(name: str, overrides: list[str]) -> tuple[Path, list[str]]:
    """Train until epoch 1's line is printed (its checkpoint written), then stop; the run and its lines."""
    lines: list[str] = []

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("epoch 1/"):
            raise _Stop

    with pytest.raises(_Stop):
        train(None, overrides=SMALL + overrides + [f"run.name={name}"], echo=echo)
    return Path("runs") / name, lines


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_rates_become_tensors_that_the_schedule_fills_in_place() -> None:
    params = [torch.nn.Parameter(torch.ones(3))]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    set_lr_tensors(opt, True)
    rate = opt.param_groups[0]["lr"]
    assert isinstance(rate, torch.Tensor) and rate.ndim == 0
    for _ in range(3):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] is rate  # the same tensor: a compiled step's graph still reads it
    assert rate.item() == pytest.approx(float(sched.get_last_lr()[0]))
    set_lr_tensors(opt, False)
    assert opt.param_groups[0]["lr"] == pytest.approx(rate.item()) and isinstance(
        opt.param_groups[0]["lr"], float
    )


def test_compiled_run_trains_as_eager_with_one_set_of_graphs(aot_eager) -> None:
    """Epoch 1 compiled (onecycle moves the rate every step), then resumed and finished eager."""
    run_dir, lines = first_epoch("compiled", ["train.compile=true"])
    graphs = counters["stats"]["unique_graphs"]
    # forward and optimiser step, and the forward again for the shorter last batch: a float
    # rate would have meant a recompilation at every one of the epoch's steps
    assert STEPS_PER_EPOCH > 20 and graphs <= 4
    assert "s compiling)" in lines[-1]
    assert history(run_dir)[0]["train"]["compile_s"] > 0
    saved = load_checkpoint(run_dir / "last.pt")["optimizer"]["param_groups"]
    assert all(isinstance(g["lr"], torch.Tensor) for g in saved)

    resumed = train(None, resume=run_dir, overrides=["train.compile=false"], echo=lambda _: None)
    eager = train(None, overrides=SMALL + ["run.name=eager"], echo=lambda _: None)
    for got, want in zip(history(resumed.run_dir), history(eager.run_dir), strict=True):
        assert isinstance(got["lr"], float) and got["lr"] == pytest.approx(want["lr"], rel=1e-6)
        assert got["train"]["loss"] == pytest.approx(want["train"]["loss"], rel=1e-4)
        assert got["test"]["loss"] == pytest.approx(want["test"]["loss"], rel=1e-4)
    assert "compile_s" not in history(resumed.run_dir)[1]["train"]


def test_an_eager_checkpoint_resumes_compiled(aot_eager) -> None:
    run_dir, _ = first_epoch("eager-first", [])
    before = compile_seconds()
    lines: list[str] = []
    train(None, resume=run_dir, overrides=["train.compile=true"], echo=lines.append)
    assert compile_seconds() > before and counters["stats"]["unique_graphs"] <= 4
    assert any(line.startswith("epoch 2/2") and "s compiling)" in line for line in lines)
    saved = load_checkpoint(run_dir / "last.pt")["optimizer"]["param_groups"]
    assert all(isinstance(g["lr"], torch.Tensor) for g in saved)  # the float rates were made tensors
