"""``train.amp: auto``: the precision a run trains in, chosen by measuring it on this device.

Lower precision is not faster everywhere. A CPU without native bf16 arithmetic
(AVX512-BF16 or AMX) emulates it, and autocast there makes a step slower; a GPU from
before Ampere has no bf16 at all. So ``auto`` times a few training steps of the run's own
model at its own batch in each precision the device offers, and keeps a lower one only
when it is at least :data:`MARGIN` faster than fp32. The choice, the CPU flags that
decided what was offered, and the timings go into the run's notes; the resolved value
replaces ``auto`` in the saved config, so a resumed run keeps it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

MARGIN = 1.10  # a lower precision must be this much faster than fp32 to be chosen
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The CPU's native bf16 features among :data:`CPU_BF16_FLAGS` (Linux ``/proc/cpuinfo``)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return [f for f in CPU_BF16_FLAGS if f in flags]


def offered(device: torch.device, cpuinfo: str | None = None) -> tuple[list[str], str]:
    """``(precisions worth timing, why)`` on ``device``; fp32 (``"none"``) always first."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return ["none", "bf16", "fp16"], f"{torch.cuda.get_device_name(device)}: bf16 and fp16"
        return ["none", "fp16"], f"{torch.cuda.get_device_name(device)}: no bf16, fp16 only"
    if device.type == "cpu":
        native = cpu_bf16_flags(cpuinfo)
        if native:
            return ["none", "bf16"], f"CPU with native bf16 ({', '.join(native)})"
        return ["none"], "CPU without native bf16 (no avx512_bf16, no amx_bf16): bf16 would be emulated"
    return ["none"], f"{device.type}: fp32 only"


def cpu_bf16_note(cpuinfo: str | None = None) -> str:
    """What ``train.amp: bf16`` means on this CPU: native arithmetic (which flags) or emulation."""
    native = cpu_bf16_flags(cpuinfo)
    if native:
        return f"train.amp bf16: native on this CPU ({', '.join(native)})"
    return (
        "train.amp bf16: emulated on this CPU (no avx512_bf16, no amx_bf16), usually slower than fp32; "
        "train.amp=auto measures which is faster"
    )


@dataclass(frozen=True)
class AmpChoice:
    amp: str
    note: str
    seconds: dict[str, float]


def time_step(model: nn.Module, x: torch.Tensor, amp: str, steps: int = 4) -> float:
    """Median seconds of a forward and backward step of ``model`` on ``x`` under ``amp``."""
    from archlab.inspect.trace import tensors_of
    from archlab.train.build import AMP_DTYPES

    dtype = AMP_DTYPES[amp]
    times = []
    for i in range(steps + 2):  # two warm-up steps
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        t0 = time.perf_counter()
        with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = tensors_of(model(x))[0]
        out.float().mean().backward()
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def choose_amp(model: nn.Module, x: torch.Tensor, cpuinfo: str | None = None) -> AmpChoice:
    """Time ``model`` on the batch ``x`` in each offered precision; the fastest that beats fp32 by MARGIN.

    The model is left as it was: flags, buffers (BatchNorm statistics), RNG and gradients.
    """
    from archlab.inspect.trace import preserved_state

    names, why = offered(x.device, cpuinfo)
    if len(names) == 1:
        return AmpChoice("none", f"train.amp auto: fp32 ({why})", {})
    seconds: dict[str, float] = {}
    grads = [(p, p.grad) for p in model.parameters()]
    with preserved_state(model, x.device):
        model.train()
        for name in names:
            seconds[name] = time_step(model, x, name)
    for p, g in grads:
        p.grad = g
    best = min(names[1:], key=lambda n: seconds[n])
    chosen = best if seconds["none"] / seconds[best] >= MARGIN else "none"
    timing = ", ".join(f"{'fp32' if n == 'none' else n} {1000 * s:.1f} ms" for n, s in seconds.items())
    label = "fp32" if chosen == "none" else chosen
    return AmpChoice(chosen, f"train.amp auto: {label} ({why}; a step at this batch: {timing})", seconds)
