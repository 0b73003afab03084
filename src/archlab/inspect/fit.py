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
import copy
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
        raise ValueError(f"memory size {text!r} not understood; write a number and a unit such as 24GB or 16GiB")
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass(frozen=True)
class StepMemory:
    """Peak bytes of one training step at ``batch``, by what holds them."""

    batch: int
    precision: str
    channels_last: bool
    peak: int
    parts: dict[str, int]


def _fake_copy(model: nn.Module, mode: Any, fmt: torch.memory_format) -> nn.Module:
    """The model's structure with every parameter and buffer a fake tensor (tied ones stay tied),
    4-D weights in ``fmt`` as ``model.to(memory_format=fmt)`` would leave them."""
    memo: dict[int, Any] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in memo:
            real = t.detach().contiguous(memory_format=fmt) if t.dim() == 4 else t.detach()
            fake = mode.from_tensor(real)
            memo[id(t)] = nn.Parameter(fake, t.requires_grad) if isinstance(t, nn.Parameter) else fake
    return copy.deepcopy(model, memo)


def _first_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    return next(_first_tensor(v) for v in value if isinstance(v, (torch.Tensor, list, tuple, dict)))


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
    from archlab.train.optim import build_optimizer

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    optim = optim or OptimConfig(name="adamw")
    fmt = torch.channels_last if channels_last and len(input_size) == 3 else torch.contiguous_format
    mode = FakeTensorMode()
    fake = _fake_copy(model, mode, fmt).train()
    with mode:
        opt = build_optimizer(fake, optim)
        x = torch.empty(batch, *input_size).contiguous(memory_format=fmt)

        def step() -> None:
            cast = (
                torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
            )
            with cast:
                out = _first_tensor(fake(x))
            out.float().mean().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        step()  # builds the optimiser's state, as the first real step does
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

    Two measured steps (batch 2 and 4) give the memory per sample; the estimate is then
    confirmed by measuring its own step and stepped down by bisection where needed.
    Returns ``(0, None)`` when not even batch 1 fits.
    """
    usable = int(budget * (1 - HEADROOM))

    def peak(b: int) -> StepMemory:
        return step_memory(model, input_size, b, optim, precision, channels_last)

    two, four = peak(2), peak(4)
    per = max(1, (four.peak - two.peak) // 2)
    guess = max(1, min(limit, (usable - (two.peak - 2 * per)) // per))
    m = peak(guess)
    if m.peak <= usable:
        return guess, m
    low, high, best = 0, guess, None  # peak grows with the batch: bisect below the estimate
    while high - low > 1:
        mid = (low + high) // 2
        m = peak(mid)
        if m.peak <= usable:
            low, best = mid, m
        else:
            high = mid
    return low, best
