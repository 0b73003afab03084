"""Budgets checked before a candidate trains, with archlab's own measurement.

Cheapest first, stopping at the first limit broken: parameters (counted on the built model),
MACs (one traced forward at batch 1, attention included), activation memory (the summary's
measured figure at batch 1) and latency (median of timed forwards at the budget's batch size and
device). A candidate over budget is judged in well under a second and never trains.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archlab.config import Config
from archlab.data.inputspec import InputSpec
from archlab.search.spec import Budget

UNITS = {"params": "", "macs": "", "activation_mb": " MB", "latency_ms": " ms"}


@dataclass
class Measurement:
    """What was measured of one candidate, and the limits it broke."""

    values: dict[str, float] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)  # budget names, in the order checked
    seconds: float = 0.0

    @property
    def feasible(self) -> bool:
        return not self.broken

    def reason(self, budget: Budget) -> str:
        limits = budget.limits()
        return "; ".join(f"{k} {fmt(k, self.values[k])} > {fmt(k, limits[k])}" for k in self.broken)


def fmt(key: str, value: float) -> str:
    if key in ("params", "macs"):
        return f"{value:,.0f}"
    return f"{value:.3g}{UNITS[key]}"


def build_candidate(cfg: Config, spec: InputSpec) -> nn.Module:
    """The trial's model, on the CPU in eval mode, for the data's bands and classes."""
    from archlab.models import create_model

    model = create_model(
        cfg.model.name,
        num_classes=cfg.model.num_classes or spec.num_classes,
        in_chans=cfg.model.in_chans or spec.channels,
        **cfg.model.kwargs,
    )
    return model.eval()


def measure(
    cfg: Config, spec: InputSpec, budget: Budget, wanted: tuple[str, ...] = (), stop_early: bool = True
) -> Measurement:
    """Measure a candidate against ``budget`` (and the costs in ``wanted``), cheapest first."""
    t0 = time.perf_counter()
    m = Measurement()
    limits = budget.limits()
    need = set(limits) | set(wanted) | {"params", "macs"}
    model = build_candidate(cfg, spec)
    steps = (
        ("params", lambda: float(sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()))),
        ("macs", lambda: float(_macs(model, spec))),
        ("activation_mb", lambda: _activation_mb(model, spec)),
        ("latency_ms", lambda: _latency_ms(model, spec, budget.latency_batch, budget.latency_device)),
    )
    for key, fn in steps:
        if key not in need:
            continue
        m.values[key] = fn()
        if key in limits and m.values[key] > limits[key]:
            m.broken.append(key)
            if stop_early:
                break
    m.seconds = time.perf_counter() - t0
    return m


def _macs(model: nn.Module, spec: InputSpec) -> int:
    from archlab.inspect import count_macs

    with torch.no_grad():
        return count_macs(model, torch.zeros(1, *spec.input_size))[0]


def _activation_mb(model: nn.Module, spec: InputSpec) -> float:
    from archlab.inspect import summarize

    return summarize(model, input_size=spec.input_size, batch_size=1).activation_bytes / 1e6


def _latency_ms(model: nn.Module, spec: InputSpec, batch: int, device: str, repeats: int = 20) -> float:
    """Median wall time of one forward pass at ``batch``, after warm-up (synchronised on CUDA)."""
    from archlab.train.setup import resolve_device

    dev = resolve_device(device)
    model = model.to(dev)
    x = torch.randn(batch, *spec.input_size, device=dev)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 3):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t = time.perf_counter()
            model(x)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if i >= 3:
                times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


@dataclass
class InfeasibleStreak:
    """Consecutive infeasible draws: which budget binds most often, and the smallest value it saw."""

    count: int = 0
    binding: dict[str, int] = field(default_factory=dict)
    smallest: dict[str, float] = field(default_factory=dict)

    def add(self, m: Measurement) -> None:
        self.count += 1
        for key in m.broken:
            self.binding[key] = self.binding.get(key, 0) + 1
            self.smallest[key] = min(self.smallest.get(key, float("inf")), m.values[key])

    def reset(self) -> None:
        self.count, self.binding, self.smallest = 0, {}, {}

    def message(self, budget: Budget) -> str:
        key = max(self.binding, key=self.binding.get)
        limit = budget.limits()[key]
        return (
            f"{self.count} candidates in a row were over budget; {key} binds ({self.binding[key]} of them): "
            f"the smallest {key} drawn was {fmt(key, self.smallest[key])} against a budget of {fmt(key, limit)}. "
            f"Narrow the space toward smaller models or raise budget.{key}"
        )


def describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {fmt(k, v)}" for k, v in values.items())
