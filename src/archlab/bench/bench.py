"""Throughput, latency and peak memory of a model, for inference or one training step.

Each configuration runs ``warmup`` untimed steps, then ``steps`` timed ones
(``time.perf_counter``, with ``torch.cuda.synchronize`` around each timed phase on
CUDA). A row reports the median and interquartile range over the timed steps.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` (weights, activations,
gradients and optimiser state) after ``reset_peak_memory_stats``. On CPU, the
growth of the process's peak resident set over the run: on Linux ``VmHWM`` from
``/proc/self/status`` after resetting it through ``/proc/self/clear_refs``, minus
the resident set before the run; elsewhere (or where the reset is refused) the
growth of ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which only shows memory
beyond the process's earlier peak. Weights already resident are not counted on CPU.

A batch that runs out of memory is halved until it fits; the row reports both the
batch asked for and the batch used.
"""

from __future__ import annotations

import copy
import csv
import gc
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from archlab.bench.memory import CpuPeak

MODES = ("infer", "train")
AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
FORMATS = ("table", "csv", "json")
_MIB = 1024.0 * 1024.0


@dataclass
class BenchRow:
    """One benchmarked configuration. Times in milliseconds per step (one batch), memory in MiB."""

    model: str
    mode: str
    device: str
    batch_requested: int
    batch: int
    input_size: list[int]
    amp: str
    channels_last: bool
    compile: bool
    params: int
    warmup: int
    steps: int
    images_per_s: float  # median over the timed steps of batch / step time
    images_per_s_iqr: float
    latency_ms: float  # median step time (one batch: forward, or forward + backward + optimiser)
    latency_ms_iqr: float
    peak_mem_mib: float | None
    mem_metric: str  # "cuda_max_allocated" | "cpu_rss_growth (VmHWM)" | "cpu_rss_growth (ru_maxrss)"
    forward_ms: float | None = None  # train mode: medians of each phase
    backward_ms: float | None = None
    optimizer_ms: float | None = None
    oom_backoffs: list[int] = field(default_factory=list)  # batch sizes that ran out of memory


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile with linear interpolation between order statistics (NumPy's default)."""
    if not values:
        raise ValueError("quantile of an empty list; run at least one timed step (steps >= 1)")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile q must lie in [0, 1], got {q}")
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median_iqr(values: Sequence[float]) -> tuple[float, float]:
    """Median and interquartile range (75th minus 25th percentile) of ``values``."""
    return quantile(values, 0.5), quantile(values, 0.75) - quantile(values, 0.25)


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory failure (CUDA, or the CPU allocator refusing)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc)
        return "out of memory" in text or "DefaultCPUAllocator: can't allocate" in text
    return False


# ---- one configuration --------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _run_steps(
    model: nn.Module,
    forward: Callable[[torch.Tensor], torch.Tensor],
    batch: int,
    input_size: tuple[int, int, int],
    mode: str,
    channels_last: bool,
    amp: torch.dtype | None,
    device: torch.device,
    warmup: int,
    steps: int,
) -> tuple[list[float], list[tuple[float, float, float]], float | None, str]:
    """Time ``steps`` steps after ``warmup``; return step times (s), train phase times (s) and peak memory."""
    x = torch.randn(batch, *input_size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = scaler = target = None
    if mode == "train":
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
    else:
        model.eval()
    cpu_peak = CpuPeak() if device.type == "cpu" else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        metric = "cuda_max_allocated"
    elif cpu_peak is not None:
        cpu_peak.start()
        metric = cpu_peak.metric
    else:
        metric = "unavailable"

    times: list[float] = []
    phases: list[tuple[float, float, float]] = []
    for i in range(warmup + steps):
        if mode == "infer":
            _sync(device)
            t0 = time.perf_counter()
            with torch.inference_mode(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                forward(x)
            _sync(device)
            elapsed = time.perf_counter() - t0
            phase = None
        else:
            _sync(device)
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                logits = forward(x)
            if target is None:
                target = torch.randint(0, logits.shape[-1], (batch,), device=device)
            loss = F.cross_entropy(logits.float(), target)
            _sync(device)
            t1 = time.perf_counter()
            scaler.scale(loss).backward()
            _sync(device)
            t2 = time.perf_counter()
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            _sync(device)
            t3 = time.perf_counter()
            elapsed, phase = t3 - t0, (t1 - t0, t2 - t1, t3 - t2)
            del logits, loss
        if i >= warmup:
            times.append(elapsed)
            if phase is not None:
                phases.append(phase)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / _MIB
    elif cpu_peak is not None:
        peak = cpu_peak.stop()
    else:
        peak = None
    return times, phases, peak, metric


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _resolve_device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    from archlab.train.setup import resolve_device

    return resolve_device(device)


def _prepare(
    model_or_name: nn.Module | str, input_size: Sequence[int] | None
) -> tuple[nn.Module, str, tuple[int, int, int]]:
    if isinstance(model_or_name, str):
        from archlab.models import create_model, model_info

        default = tuple(model_info(model_or_name)["input_size"])
        size = tuple(input_size) if input_size else default
        model = create_model(model_or_name, in_chans=int(size[0]))
        label = model_or_name
    else:
        if not input_size:
            raise ValueError(
                "bench_model of an nn.Module needs input_size=(C, H, W); pass it, or pass a registered model name"
            )
        # A copy: moving, channels-last and training steps must leave the caller's weights alone.
        model, size, label = copy.deepcopy(model_or_name), tuple(input_size), type(model_or_name).__name__
    if len(size) != 3 or any(int(s) < 1 for s in size):
        raise ValueError(f"input_size must be three positive numbers C, H, W; got {list(size)}")
    return model, label, (int(size[0]), int(size[1]), int(size[2]))


def bench_model(
    model_or_name: nn.Module | str,
    batch_sizes: Sequence[int] = (1, 32),
    mode: str = "infer",
    channels_last: bool = False,
    amp: str = "none",
    compile: bool = False,
    device: str | torch.device = "auto",
    warmup: int = 5,
    steps: int = 20,
    input_size: Sequence[int] | None = None,
    label: str | None = None,
) -> list[BenchRow]:
    """Benchmark a model (a registered name, or a module with ``input_size``) at each batch size.

    ``mode`` is ``infer`` (forward under ``inference_mode``) or ``train`` (forward + cross-entropy,
    backward, SGD step, each timed). ``amp`` is ``none``, ``bf16`` or ``fp16`` (autocast). A batch
    that runs out of memory is halved until it fits.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be one of {', '.join(AMP_DTYPES)}, got {amp!r}")
    if warmup < 0 or steps < 1:
        raise ValueError(f"need warmup >= 0 and steps >= 1, got warmup={warmup}, steps={steps}")
    batch_sizes = [int(b) for b in batch_sizes]
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"batch sizes must be positive integers, got {batch_sizes}")
    dev = _resolve_device(device)
    model, default_label, size = _prepare(model_or_name, input_size)
    label = label or default_label
    params = sum(p.numel() for p in model.parameters())
    model = model.to(dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if compile else model
    amp_dtype = AMP_DTYPES[amp]

    rows: list[BenchRow] = []
    fails_at: int | None = None  # the smallest batch that ran out of memory so far
    for requested in batch_sizes:
        batch, backoffs = requested, []
        while fails_at is not None and batch >= fails_at:
            backoffs.append(batch)
            batch //= 2
        result = None
        while batch >= 1:
            oom = False
            try:
                result = _run_steps(
                    model, forward, batch, size, mode, channels_last, amp_dtype, dev, warmup, steps
                )
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled; the rest re-raises
                if not is_oom(exc):
                    raise
                oom = True
            if not oom:
                break
            model.zero_grad(set_to_none=True)
            _free(dev)
            backoffs.append(batch)
            fails_at = batch if fails_at is None else min(fails_at, batch)
            batch //= 2
        if result is None:
            raise ValueError(
                f"{label} runs out of memory on {dev} even at batch 1 (input {'x'.join(map(str, size))}); "
                "use a smaller input, --amp bf16, or another device"
            )
        times, phases, peak, metric = result
        ips = [batch / t for t in times]
        ips_med, ips_iqr = median_iqr(ips)
        lat_med, lat_iqr = median_iqr([1e3 * t for t in times])
        row = BenchRow(
            model=label,
            mode=mode,
            device=str(dev),
            batch_requested=requested,
            batch=batch,
            input_size=list(size),
            amp=amp,
            channels_last=channels_last,
            compile=compile,
            params=params,
            warmup=warmup,
            steps=steps,
            images_per_s=ips_med,
            images_per_s_iqr=ips_iqr,
            latency_ms=lat_med,
            latency_ms_iqr=lat_iqr,
            peak_mem_mib=peak,
            mem_metric=metric,
            oom_backoffs=backoffs,
        )
        if phases:
            row.forward_ms, row.backward_ms, row.optimizer_ms = (
                1e3 * quantile([p[k] for p in phases], 0.5) for k in range(3)
            )
        rows.append(row)
        _free(dev)
    return rows


# ---- rendering ----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render_rows(rows: Sequence[BenchRow], fmt: str = "table") -> str:
    """The rows as an aligned text table, CSV (one line per row) or a JSON list."""
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        names = list(BenchRow.__dataclass_fields__)
        writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            d = asdict(r)
            d["input_size"] = "x".join(map(str, r.input_size))
            d["oom_backoffs"] = " ".join(map(str, r.oom_backoffs))
            writer.writerow(d)
        return buf.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    train = any(r.mode == "train" for r in rows)
    header = ["model", "mode", "device", "input", "batch", "img/s", "±IQR", "ms/step", "±IQR", "peak MiB"]
    if train:
        header += ["fwd ms", "bwd ms", "opt ms"]
    table = [header]
    for r in rows:
        batch = str(r.batch) if r.batch == r.batch_requested else f"{r.batch} (of {r.batch_requested}, OOM)"
        line = [
            r.model,
            r.mode + ("/cl" if r.channels_last else "") + ("" if r.amp == "none" else f"/{r.amp}")
            + ("/compiled" if r.compile else ""),
            r.device,
            "x".join(map(str, r.input_size)),
            batch,
            _fmt(r.images_per_s),
            _fmt(r.images_per_s_iqr),
            _fmt(r.latency_ms, 2),
            _fmt(r.latency_ms_iqr, 2),
            _fmt(r.peak_mem_mib),
        ]  # fmt: skip
        if train:
            line += [_fmt(r.forward_ms, 2), _fmt(r.backward_ms, 2), _fmt(r.optimizer_ms, 2)]
        table.append(line)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    left = {0, 1, 2, 3}
    out = []
    for k, row in enumerate(table):
        cells = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    if not rows:
        return "\n".join(out)
    metrics = ", ".join(sorted({r.mem_metric for r in rows}))
    out.append(
        f"median over {rows[0].steps} timed steps after {rows[0].warmup} warm-up; peak memory: {metrics}"
    )
    return "\n".join(out)
