"""Compound scaling (EfficientNet, seed 004) as a built-in search.

A search file's ``compound`` section grids the depth, width and resolution coefficients
α, β, γ under the constraint α·β²·γ² ≈ ``target`` (2: FLOPs double per unit of φ) at a fixed
``phi``::

    compound: {alpha: [1.0, 1.4], beta: [1.0, 1.3], gamma: [1.0, 1.3], step: 0.05, target: 2.0,
               tolerance: 0.1, phi: 1}

Each candidate trains the base architecture file with ``depth_mult = α^φ``,
``width_mult = β^φ`` and ``resolution_mult = γ^φ`` (the data resized on the device to
match). Seed 004 reports α = 1.2, β = 1.1, γ = 1.15 for EfficientNet-B0. The report sets the
MACs archlab measures for φ = 0…3 beside the (α·β²·γ²)^φ the rule predicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KEYS = ("alpha", "beta", "gamma", "step", "target", "tolerance", "phi")


@dataclass(frozen=True)
class Compound:
    alpha: tuple[float, float] = (1.0, 1.4)
    beta: tuple[float, float] = (1.0, 1.4)
    gamma: tuple[float, float] = (1.0, 1.4)
    step: float = 0.05
    target: float = 2.0
    tolerance: float = 0.1
    phi: float = 1.0

    def candidates(self) -> list[str]:
        """Every grid point with |α·β²·γ² − target| ≤ tolerance, as ``"α,β,γ"`` labels."""
        out = []
        for a in _grid(self.alpha, self.step):
            for b in _grid(self.beta, self.step):
                for g in _grid(self.gamma, self.step):
                    if abs(a * b * b * g * g - self.target) <= self.tolerance:
                        out.append(f"{a:.2f},{b:.2f},{g:.2f}")
        return out

    def overrides(
        self, label: str, input_size: tuple[int, int, int], phi: float | None = None
    ) -> dict[str, Any]:
        """Config keys of candidate ``label`` at ``phi`` (default: the section's)."""
        a, b, g = parse(label)
        phi = self.phi if phi is None else phi
        h, w = input_size[1:]
        res = g**phi
        return {
            "model.kwargs.depth_mult": round(a**phi, 6),
            "model.kwargs.width_mult": round(b**phi, 6),
            "model.kwargs.resolution_mult": round(res, 6),
            "data.resize": [int(round(h * res)), int(round(w * res))],
        }


def parse(label: str) -> tuple[float, float, float]:
    a, b, g = (float(v) for v in label.split(","))
    return a, b, g


def _grid(bounds: tuple[float, float], step: float) -> list[float]:
    lo, hi = bounds
    n = int(math.floor((hi - lo) / step + 1e-9))
    return [round(lo + i * step, 6) for i in range(n + 1)]


def parse_compound(raw: Any) -> Compound | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("compound must be a mapping such as {alpha: [1.0, 1.4], beta: [1.0, 1.3], ...}")
    for key in raw:
        if key not in KEYS:
            raise ValueError(f"compound.{key} is not a setting; keys are {', '.join(KEYS)}")
    kw: dict[str, Any] = {}
    for key in ("alpha", "beta", "gamma"):
        if key in raw:
            lo, hi = (float(v) for v in raw[key])
            if not 0 < lo <= hi:
                raise ValueError(f"compound.{key} expects [low, high] with 0 < low <= high, got {raw[key]!r}")
            kw[key] = (lo, hi)
    for key in ("step", "target", "tolerance", "phi"):
        if key in raw:
            kw[key] = float(raw[key])
    c = Compound(**kw)
    if c.step <= 0:
        raise ValueError(f"compound.step must be positive, got {c.step}")
    if not c.candidates():
        raise ValueError(
            f"compound: no grid point has alpha*beta^2*gamma^2 within {c.tolerance} of {c.target}; "
            "widen the ranges or the tolerance"
        )
    return c


def scaling_table(
    model_name: str, label: str, input_size: tuple[int, int, int], num_classes: int, phis=(0, 1, 2, 3)
):
    """For φ in ``phis``: measured MACs and parameters of the scaled model, and the predicted MAC ratio."""
    import torch

    from archlab.inspect import count_macs
    from archlab.models import create_model

    a, b, g = parse(label)
    rows, base = [], None
    for phi in phis:
        res = g**phi
        size = (input_size[0], int(round(input_size[1] * res)), int(round(input_size[2] * res)))
        model = create_model(
            model_name, num_classes=num_classes, in_chans=input_size[0],
            depth_mult=a**phi, width_mult=b**phi, resolution_mult=res,
        ).eval()  # fmt: skip
        with torch.no_grad():
            macs = count_macs(model, torch.zeros(1, *size))[0]
        base = macs if base is None else base
        rows.append(
            {
                "phi": phi,
                "input": list(size),
                "params": sum(p.numel() for p in model.parameters()),
                "macs": macs,
                "measured_ratio": macs / base,
                "predicted_ratio": (a * b * b * g * g) ** phi,
                "rule_ratio": 2.0**phi,
            }
        )
    return rows
