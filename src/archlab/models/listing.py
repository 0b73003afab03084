"""The table printed by ``archlab models``: name, parameters, MACs, input, source."""

from __future__ import annotations

import json

import torch
from torch import nn

from archlab.models.registry import create_model, list_models, model_info


def build_on_meta(name: str, **kwargs) -> nn.Module:
    """Build a registered model without allocating its weights (falls back to the CPU)."""
    try:
        with torch.device("meta"):
            return create_model(name, **kwargs)
    except (NotImplementedError, RuntimeError):
        return create_model(name, **kwargs)


def count_params(model: nn.Module) -> int:
    """Parameters counted once per unique tensor (tied weights once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def count_macs_at_default(name: str, model: nn.Module | None = None) -> int:
    """MACs of one forward at the model's default input size, batch 1 (counted from shapes on the meta device)."""
    from archlab.inspect import count_macs

    info = model_info(name)
    model = (model if model is not None else build_on_meta(name)).eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    total, _, _ = count_macs(model, torch.zeros(1, *info["input_size"], device=device))
    return int(total)


def model_rows(pattern: str | None = None, macs: bool = True) -> list[dict]:
    rows = []
    names = list_models(pattern)
    if not names:
        raise ValueError(f"no registered model matches {pattern!r}; try 'archlab models' for the full list")
    for name in names:
        info = model_info(name)
        model = build_on_meta(name)
        row = {
            "name": name,
            "params": count_params(model),
            "input_size": list(info["input_size"]),
            "num_classes": info["num_classes"],
            "task": info["task"],
            "source": info["source"],
        }
        if macs:
            row["macs"] = count_macs_at_default(name, model)
        rows.append(row)
    return rows


def _fmt_macs(v: int | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1e9:.3f} G" if v >= 1e8 else f"{v / 1e6:.3f} M"


def model_table(pattern: str | None = None, macs: bool = True, fmt: str = "table") -> str:
    rows = model_rows(pattern, macs)
    if fmt == "json":
        return json.dumps(rows, indent=2)
    headers = ["name", "params", "MACs (batch 1)", "input", "classes", "source"]
    body = [
        [
            r["name"],
            f"{r['params']:,}",
            _fmt_macs(r.get("macs")),
            "x".join(map(str, r["input_size"])),
            str(r["num_classes"]),
            r["source"],
        ]
        for r in rows
    ]
    if not macs:
        headers.pop(2)
        body = [b[:2] + b[3:] for b in body]
    if fmt == "markdown":
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]
    right = {1, 2} if macs else {1}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    out = [line(headers), "  ".join("-" * w for w in widths)] + [line(b) for b in body]
    out.append(
        f"{len(rows)} models; MACs = multiply-accumulates (1 MAC = 2 FLOPs)"
        if macs
        else f"{len(rows)} models"
    )
    return "\n".join(out)
