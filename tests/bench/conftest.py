"""Run directories built by hand: a checkpoint with the keys archlab train writes, around seeded weights.

``make_run`` stores the input specification as archlab train does now (``checkpoint["input"]``),
or with ``flat=True`` as earlier versions did (flat ``classes``, ``bands``, ``mean`` ... keys).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from archlab.data.inputspec import InputSpec
from archlab.models import create_model
from archlab.rundir import save_checkpoint

MS_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]


def make_run(
    run_dir: Path,
    model_name: str,
    classes: list[str],
    input_size: tuple[int, int, int],
    bands: list[str],
    mean: list[float],
    std: list[float],
    scale: float = 255.0,
    task: str = "single_label",
    thresholds: list[float] | None = None,
    kwargs: dict | None = None,
    seed: int = 0,
    flat: bool = False,
) -> nn.Module:
    """Write ``run_dir/best.pt`` for a freshly initialised (seeded) model; return that model in eval mode."""
    torch.manual_seed(seed)
    kwargs = dict(kwargs or {})
    model = create_model(model_name, num_classes=len(classes), in_chans=input_size[0], **kwargs)
    # Non-trivial BatchNorm statistics, so a missed eval() or a dropped buffer shows in the outputs.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    model.eval()
    run_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model.state_dict(),
        "config": {
            "model": {"name": model_name, "num_classes": None, "in_chans": None, "kwargs": kwargs},
            "data": {"normalize": True},
        },
        "model_name": model_name,
        "params": sum(p.numel() for p in model.parameters()),
        "epoch": 3,
        "metrics": {"test": {"acc": 0.5}},
    }
    spec = InputSpec(
        input_size=tuple(input_size), classes=tuple(classes), bands=tuple(bands), mean=tuple(mean),
        std=tuple(std), scale=scale, task=task,
    )  # fmt: skip
    if flat:  # the layout of checkpoints written before the spec had its own entry
        payload.update(classes=classes, input_size=list(input_size), bands=bands, mean=mean, std=std,
                       scale=scale, task=task)  # fmt: skip
    else:
        payload["input"] = spec.to_dict()
    if thresholds is not None:
        payload["thresholds"] = thresholds
    save_checkpoint(payload, run_dir / "best.pt")
    return model


@pytest.fixture
def run_factory() -> Callable[..., nn.Module]:
    """:func:`make_run`, for tests that build their own run directory."""
    return make_run


@pytest.fixture
def ms_bands() -> list[str]:
    return list(MS_BANDS)


@pytest.fixture
def digits_run(tmp_path: Path) -> tuple[Path, nn.Module]:
    """A grey 1×8×8, 10-class single-label run of a width-8 ``digits_cnn``."""
    run = tmp_path / "digits"
    model = make_run(run, "digits_cnn", [str(i) for i in range(10)], (1, 8, 8), ["gray"], [0.3], [0.4],
                     kwargs={"width": 8})  # fmt: skip
    return run, model


@pytest.fixture
def ms_run(tmp_path: Path) -> tuple[Path, nn.Module]:
    """A 12-band 16×16, 19-class multi-label run (a width-8 ``digits_cnn`` with 12 input bands)."""
    run = tmp_path / "ms"
    thresholds = [0.3 if i % 2 else 0.6 for i in range(19)]
    model = make_run(
        run, "digits_cnn", [f"class{i:02d}" for i in range(19)], (12, 16, 16), MS_BANDS,
        [0.1 + 0.01 * i for i in range(12)], [0.05 + 0.01 * i for i in range(12)], scale=10000.0,
        task="multi_label", thresholds=thresholds, kwargs={"width": 8}, seed=1,
    )  # fmt: skip
    return run, model


@pytest.fixture
def bench_cli() -> Callable[..., int]:
    """Parse ``argv`` with the bench/export/predict parsers and run the command's ``func``."""
    import argparse

    from archlab.bench.cli import add_bench_parsers

    def run(*argv: str) -> int:
        parser = argparse.ArgumentParser(prog="archlab")
        add_bench_parsers(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(list(argv))
        return int(args.func(args))

    return run
