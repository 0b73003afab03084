"""``train.amp: auto``: what each device offers, the choice by measurement, and the run that records it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from archlab.train import precision, train
from archlab.train.precision import MARGIN, choose_amp, cpu_bf16_flags, cpu_bf16_note, offered

XEON_AVX512 = "processor : 0\nflags : fpu sse avx2 avx512f avx512bw avx512vl\n"
SAPPHIRE_RAPIDS = "processor : 0\nflags : fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


def test_cpu_flags_decide_what_is_offered() -> None:
    assert cpu_bf16_flags(XEON_AVX512) == [] and cpu_bf16_flags(SAPPHIRE_RAPIDS) == [
        "amx_bf16",
        "avx512_bf16",
    ]
    names, why = offered(torch.device("cpu"), XEON_AVX512)
    assert names == ["none"] and "without native bf16" in why
    names, why = offered(torch.device("cpu"), SAPPHIRE_RAPIDS)
    assert names == ["none", "bf16"] and why == "CPU with native bf16 (amx_bf16, avx512_bf16)"


def test_an_explicit_bf16_says_whether_this_cpu_has_it_natively() -> None:
    assert cpu_bf16_note(SAPPHIRE_RAPIDS) == "train.amp bf16: native on this CPU (amx_bf16, avx512_bf16)"
    assert cpu_bf16_note(XEON_AVX512).startswith("train.amp bf16: emulated on this CPU (no avx512_bf16")


def test_without_native_bf16_auto_is_fp32_without_timing() -> None:
    choice = choose_amp(nn.Linear(4, 2), torch.randn(8, 4), XEON_AVX512)
    assert choice.amp == "none" and choice.seconds == {}
    assert choice.note.startswith("train.amp auto: fp32 (CPU without native bf16")


@pytest.mark.parametrize(
    "bf16_seconds, expected", [(0.5, "bf16"), (1 / MARGIN + 0.01, "none"), (2.0, "none")]
)
def test_a_lower_precision_is_kept_only_when_clearly_faster(
    monkeypatch: pytest.MonkeyPatch, bf16_seconds: float, expected: str
) -> None:
    monkeypatch.setattr(
        precision, "time_step", lambda model, x, amp: {"none": 1.0, "bf16": bf16_seconds}[amp]
    )
    choice = choose_amp(nn.Linear(4, 2), torch.randn(8, 4), SAPPHIRE_RAPIDS)
    assert choice.amp == expected and choice.seconds == {"none": 1.0, "bf16": bf16_seconds}


def test_timing_leaves_the_model_as_it_was() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2)).eval()
    model(torch.randn(2, 3, 8, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    choose_amp(model, torch.randn(8, 3, 8, 8), SAPPHIRE_RAPIDS)  # times fp32 and bf16 steps for real
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_run_records_the_resolved_choice(run_in_tmp: Path) -> None:
    lines: list[str] = []
    overrides = ["train.epochs=1", "data.limit=200", "train.amp=auto", "run.name=amp"]
    result = train(None, overrides=overrides, echo=lines.append)
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert saved["train"]["amp"] in ("none", "bf16")  # resolved: a resume keeps it
    assert any(line.startswith("note: train.amp auto: ") for line in lines)


def test_a_bf16_run_on_the_cpu_names_what_it_used(run_in_tmp: Path) -> None:
    lines: list[str] = []
    train(
        None,
        overrides=["train.epochs=1", "data.limit=200", "train.amp=bf16", "run.name=bf16"],
        echo=lines.append,
    )
    assert f"note: {cpu_bf16_note()}" in lines
