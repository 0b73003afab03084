"""bench_model: statistics on known lists, the structure and units of its rows, out-of-memory back-off."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch
from torch import nn

from archlab.bench.bench import BenchRow, bench_model, is_oom, median_iqr, quantile, render_rows

FAST = {"device": "cpu", "warmup": 1, "steps": 3}


class Tiny(nn.Module):
    """3 -> 4 conv 3×3 (112 parameters), global average pool, linear 4 -> 5 (25): 137 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class OomAbove(Tiny):
    """Tiny, but a batch larger than ``limit`` fails the way an exhausted allocator does."""

    def __init__(
        self, limit: int, error: type[Exception] = torch.OutOfMemoryError, message: str = "CUDA out of memory"
    ) -> None:
        super().__init__()
        self.limit, self.error, self.message = limit, error, message

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise self.error(self.message)
        return super().forward(x)


def test_quantiles_on_known_lists() -> None:
    values = [8.0, 1.0, 7.0, 2.0, 6.0, 3.0, 5.0, 4.0]
    # Linear interpolation: q25 at position 1.75 -> 2.75, q75 at 5.25 -> 6.25.
    assert quantile(values, 0.25) == pytest.approx(2.75)
    assert quantile(values, 0.75) == pytest.approx(6.25)
    assert median_iqr(values) == pytest.approx((4.5, 3.5))
    assert median_iqr([3.0, 1.0, 2.0]) == pytest.approx((2.0, 1.0))
    assert median_iqr([7.0]) == (7.0, 0.0)
    rng = np.random.default_rng(0).random(11).tolist()
    for q in (0.1, 0.25, 0.5, 0.9):
        assert quantile(rng, q) == pytest.approx(float(np.percentile(rng, 100 * q)))
    with pytest.raises(ValueError, match="steps >= 1"):
        quantile([], 0.5)


def test_infer_rows_structure_and_units() -> None:
    model = Tiny()
    rows = bench_model(model, [1, 4], mode="infer", input_size=(3, 8, 8), **FAST)
    assert [r.batch for r in rows] == [1, 4] and [r.batch_requested for r in rows] == [1, 4]
    for r in rows:
        assert r.params == 137
        assert r.input_size == [3, 8, 8] and r.mode == "infer" and r.device == "cpu"
        assert r.steps == 3 and r.warmup == 1 and r.oom_backoffs == []
        # With an odd number of steps the median of batch/t is batch / (median t): images/s and ms agree.
        assert r.images_per_s == pytest.approx(r.batch * 1000.0 / r.latency_ms)
        assert r.images_per_s_iqr >= 0 and r.latency_ms_iqr >= 0
        assert r.mem_metric.startswith("cpu_rss_growth") and r.peak_mem_mib >= 0
        assert r.forward_ms is None and r.backward_ms is None and r.optimizer_ms is None


def test_train_rows_split_phases_and_leave_the_callers_weights_alone() -> None:
    torch.manual_seed(0)
    model = Tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    (row,) = bench_model(model, [2], mode="train", input_size=(3, 8, 8), **FAST)
    assert row.mode == "train"
    assert row.forward_ms > 0 and row.backward_ms > 0 and row.optimizer_ms > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training  # a fresh module is in train mode and stays so


def test_registered_name_uses_its_input_size() -> None:
    (row,) = bench_model("digits_cnn", [2], **FAST)
    assert row.model == "digits_cnn" and row.input_size == [1, 8, 8]
    assert row.params == 65_834  # 63·w² + 9·w + 12·w + 2·w·10 + 10 at the default width w = 32


def test_oom_halves_the_batch_and_reports_the_batch_used() -> None:
    rows = bench_model(OomAbove(8), [32, 4, 64], input_size=(3, 8, 8), **FAST)
    assert [(r.batch_requested, r.batch) for r in rows] == [(32, 8), (4, 4), (64, 8)]
    assert rows[0].oom_backoffs == [32, 16]
    assert rows[1].oom_backoffs == []
    assert rows[2].oom_backoffs == [64, 32, 16]  # 16 is known to fail, so it is not tried again
    assert "8 (of 32, OOM)" in render_rows(rows)


def test_cpu_allocator_failure_counts_as_oom_and_other_errors_do_not() -> None:
    cpu = OomAbove(
        3, RuntimeError, "[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried 1 GB"
    )
    (row,) = bench_model(cpu, [5], input_size=(3, 8, 8), **FAST)
    assert (row.batch, row.oom_backoffs) == (2, [5])
    with pytest.raises(RuntimeError, match="shape mismatch"):
        bench_model(OomAbove(3, RuntimeError, "shape mismatch"), [5], input_size=(3, 8, 8), **FAST)
    assert is_oom(torch.OutOfMemoryError("x")) and not is_oom(ValueError("out of memory"))


def test_oom_at_batch_one_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="runs out of memory on cpu even at batch 1"):
        bench_model(OomAbove(0), [2], input_size=(3, 8, 8), **FAST)


def test_renderings_carry_the_same_numbers() -> None:
    rows = bench_model(Tiny(), [1, 2], mode="train", input_size=(3, 8, 8), label="tiny", **FAST)
    table = render_rows(rows, "table").splitlines()
    assert table[0].split()[:5] == ["model", "mode", "device", "input", "batch"]
    assert "fwd ms" in table[0] and len(table) == 2 + len(rows) + 1
    parsed = list(csv.DictReader(io.StringIO(render_rows(rows, "csv"))))
    assert list(parsed[0]) == list(BenchRow.__dataclass_fields__)
    assert [float(p["images_per_s"]) for p in parsed] == [r.images_per_s for r in rows]
    assert parsed[1]["input_size"] == "3x8x8"
    data = json.loads(render_rows(rows, "json"))
    assert [d["batch"] for d in data] == [1, 2] and data[0]["model"] == "tiny"
    assert data[1]["backward_ms"] == rows[1].backward_ms


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "eval"}, "mode must be one of infer, train"),
        ({"amp": "fp8"}, "amp must be one of none, bf16, fp16"),
        ({"batch_sizes": [0]}, "batch sizes must be positive"),
        ({"steps": 0}, "steps >= 1"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"batch_sizes": [1], "input_size": (3, 8, 8), **FAST, **kwargs}
    with pytest.raises(ValueError, match=message):
        bench_model(Tiny(), **args)


def test_module_without_input_size() -> None:
    with pytest.raises(ValueError, match="needs input_size"):
        bench_model(Tiny(), [1], device="cpu")


def test_bench_cli_json(bench_cli, capsys: pytest.CaptureFixture) -> None:
    rc = bench_cli("bench", "digits_cnn", "--batch", "1", "3", "--steps", "1", "--warmup", "0",
                   "--device", "cpu", "--mode", "train", "--format", "json")  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [(d["model"], d["batch"], d["mode"]) for d in data] == [
        ("digits_cnn", 1, "train"),
        ("digits_cnn", 3, "train"),
    ]


def test_bench_cli_run_directory(bench_cli, digits_run, capsys: pytest.CaptureFixture) -> None:
    run, _ = digits_run
    rc = bench_cli("bench", str(run), "--batch", "2", "--steps", "1", "--warmup", "0", "--device", "cpu",
                   "--format", "csv")  # fmt: skip
    (row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rc == 0
    assert row["model"] == "digits_cnn (digits)" and row["input_size"] == "1x8x8"
    assert int(row["params"]) == 4_370  # 63·8² + 9·8 + 12·8 + 2·8·10 + 10 at width 8


def test_cpu_peak_sees_a_64_mib_allocation() -> None:
    from archlab.bench.memory import CpuPeak

    probe = CpuPeak()
    probe.start()
    block = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB of float64, every page touched
    grown = probe.stop()
    del block
    if probe.metric != "cpu_rss_growth (VmHWM)":
        pytest.skip(f"VmHWM cannot be reset here; the fallback {probe.metric} may read 0")
    assert 63.0 <= grown < 64.0 + 32.0
