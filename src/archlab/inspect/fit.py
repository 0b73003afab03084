"""The memory of one training step, measured without allocating it, and the largest batch that fits.

One whole step (forward, loss, backward, optimiser step, with the optimiser's state already
built as it is from the second step on) runs under ``FakeTensorMode``: every operator,
shape, dtype, device rule (autocast, fused attention) and tensor lifetime is the real one,
but no memory is allocated and nothing is computed. PyTorch's own ``MemTracker`` follows
every storage as it is created and freed and reports the peak, split into parameters,
buffers, gradients, activations, temporaries and optimiser state.

What it cannot see: kernels' private workspaces (oneDNN, cuDNN), the CUDA context
(about 0.3–0.5 GB per process) and the caching allocator's fragmentation, so a device
needs some headroom over the figure; :data:`HEADROOM` is kept free by :func:`fit_batch`.
``benchmarks/bench_memory.py`` checks the prediction against measured peaks.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

HEADROOM = 0.10  # fraction of the budget kept free for what the step's tensors do not show
PRECISIONS = ("fp32", "bf16")
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6, "g": 10**9})


def parse_size(text: str) -> int:
    """``"24GB"`` → 24·10⁹ bytes, ``"8GiB"`` → 8·2³⁰; MB/MiB/TB too."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS or float(match.group(1)) <= 0:
        raise ValueError(
            f"memory size {text!r} not understood; write a number and a unit such as 24GB or 16GiB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass(frozen=True)
class StepMemory:
    """Peak bytes of one training step at ``batch``, by what holds them."""

    batch: int
    precision: str
    channels_last: bool
    peak: int
    parts: dict[str, int]


def _optimizer(params: list[nn.Parameter], optim: Any) -> torch.optim.Optimizer:
    """The optimiser ``archlab.train`` builds from ``optim``, as far as its state's memory goes
    (the learning rate, weight decay and parameter groups do not change it)."""
    if optim.name == "sgd":
        return torch.optim.SGD(
            params, lr=0.1, momentum=optim.momentum, nesterov=optim.nesterov and optim.momentum > 0
        )
    return (torch.optim.Adam if optim.name == "adam" else torch.optim.AdamW)(params, lr=1e-3)


def step_memory(
    model: nn.Module,
    input_size: tuple[int, ...],
    batch: int,
    optim: Any = None,
    precision: str = "fp32",
    channels_last: bool = False,
) -> StepMemory:
    """Peak memory of one steady-state training step of ``model`` at ``batch``.

    ``optim`` is an :class:`archlab.config.OptimConfig` (default: AdamW); ``precision``
    ``"bf16"`` runs the step under bf16 autocast (weights, gradients and optimiser state stay
    float32, as they do in training).
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    from archlab.config import OptimConfig
    from archlab.inspect.summary import shell_copy
    from archlab.inspect.trace import tensors_of

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    optim = optim or OptimConfig(name="adamw")
    fmt = torch.channels_last if channels_last and len(input_size) == 3 else torch.contiguous_format
    mode = FakeTensorMode()
    # 4-D weights in fmt, as model.to(memory_format=fmt) would leave them
    fake = shell_copy(
        model,
        lambda t: mode.from_tensor(t.detach().contiguous(memory_format=fmt) if t.dim() == 4 else t.detach()),
    ).train()
    with mode:
        opt = _optimizer([p for p in fake.parameters() if p.requires_grad], optim)
        x = torch.empty(batch, *input_size).contiguous(memory_format=fmt)

        def step() -> None:
            cast = (
                torch.autocast("cpu", dtype=torch.bfloat16)
                if precision == "bf16"
                else contextlib.nullcontext()
            )
            with cast:
                out = tensors_of(fake(x))[0]
            out.float().mean().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        for param in fake.parameters():  # the optimiser's state, as the first step leaves it
            if param.requires_grad:
                param.grad = torch.zeros_like(param)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tracker = MemTracker()
        tracker.track_external(fake, opt)
        with tracker:
            step()
        snap = tracker.get_tracker_snapshot("peak")
    totals = next(iter(snap.values()))
    parts = {str(getattr(k, "value", k)).lower(): int(v) for k, v in totals.items() if k != "Total"}
    return StepMemory(batch, precision, channels_last, int(totals["Total"]), parts)


def fit_batch(
    model: nn.Module,
    input_size: tuple[int, ...],
    budget: int,
    optim: Any = None,
    precision: str = "fp32",
    channels_last: bool = False,
    limit: int = 1 << 16,
) -> tuple[int, StepMemory | None]:
    """The largest batch whose step peak stays within ``budget`` less :data:`HEADROOM`.

    Steps measured at batch 2 and 4 give the memory per sample; each further measurement
    aims along the line through the latest two, until the largest batch that fits and the
    smallest that does not are neighbours (two or three measurements for most models).
    Returns ``(0, None)`` when not even batch 1 fits.
    """
    usable = int(budget * (1 - HEADROOM))
    seen: dict[int, StepMemory] = {}

    def peak(b: int) -> int:
        seen[b] = step_memory(model, input_size, b, optim, precision, channels_last)
        return seen[b].peak

    # The peak grows with the batch, very nearly linearly: aim along the line through the two
    # latest measurements (secant), keeping the largest batch that fits and the smallest that does not.
    points = [(2, peak(2)), (4, peak(4))]
    low = max((b for b, m in points if m <= usable), default=0)
    high = min((b for b, m in points if m > usable), default=limit + 1)
    while high - low > 1:
        (b0, m0), (b1, m1) = points[-2], points[-1]
        per = max(1.0, (m1 - m0) / (b1 - b0)) if b1 != b0 else float(max(1, m1 // b1))
        aim = int(b1 + (usable - m1) // per)
        probe = min(max(aim, low + 1), high - 1)  # strictly between: the interval shrinks every time
        m = peak(probe)
        points.append((probe, m))
        low, high = (probe, high) if m <= usable else (low, probe)
    return (low, seen[low]) if low else (0, None)


def fit_table(
    model: nn.Module, input_size: tuple[int, ...], budget: int, optim: Any = None
) -> list[dict[str, Any]]:
    """Seed 003's batch-size table for one model and one memory size: the largest batch per
    precision (fp32, bf16 autocast) and memory format (contiguous, channels_last for images)."""
    formats = (False, True) if len(input_size) == 3 else (False,)
    rows = []
    for precision in PRECISIONS:
        for channels_last in formats:
            batch, m = fit_batch(model, input_size, budget, optim, precision, channels_last)
            rows.append(
                {
                    "precision": precision,
                    "memory_format": "channels_last" if channels_last else "contiguous",
                    "batch": batch,
                    "peak_bytes": m.peak if m else None,
                    "parts": m.parts if m else {},
                }
            )
    return rows


def render_fit(rows: list[dict[str, Any]], budget: int, optim_name: str, markdown: bool = False) -> str:
    from archlab.inspect.units import fmt_mb

    head = [
        "precision",
        "memory format",
        "largest batch",
        "step peak",
        "activations",
        "weights+grads+optimiser",
    ]
    cells = []
    for r in rows:
        p = r["parts"]
        fixed = sum(p.get(k, 0) for k in ("parameter", "buffer", "gradient", "optstate"))
        cells.append(
            [
                "bf16 autocast" if r["precision"] == "bf16" else "fp32",
                r["memory_format"],
                f"{r['batch']:,}" if r["batch"] else "none fits",
                fmt_mb(r["peak_bytes"]) if r["peak_bytes"] else "—",
                fmt_mb(p.get("activation", 0) + p.get("temp", 0)) if p else "—",
                fmt_mb(fixed) if p else "—",
            ]
        )
    title = (
        f"Largest training batch within {budget / 1e9:.3g} GB ({100 * HEADROOM:.0f} % kept free for kernel "
        f"workspaces and the allocator), {optim_name}; one step measured under FakeTensorMode, nothing allocated:"
    )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join([title, "", *lines, *("| " + " | ".join(c) + " |" for c in cells)])
    widths = [max(len(x) for x in col) for col in zip(head, *cells)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in [head, *cells]]
    return "\n".join([title, *lines])
