"""The table printed by ``archlab models``: name, parameters, MACs, input, classes, source.

The rows come from :mod:`archlab.models.listing` (metadata, read without building); this module
adds the figures. Parameters and MACs at the default input size (batch 1) are counted on the
meta device, from shapes, so no weights are allocated; they are measured when at most
``FIGURES_LIMIT`` models are listed (narrow the list with a pattern), or when asked.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from archlab.inspect.trace import count_macs
from archlab.models import model_info
from archlab.models.listing import build_on_meta, count_params, model_rows

FIGURES_LIMIT = 50


def count_macs_at_default(name: str, model: nn.Module | None = None) -> int:
    """MACs of one forward at the model's default input size, batch 1 (counted from shapes on the meta device)."""
    info = model_info(name)
    model = (model if model is not None else build_on_meta(name)).eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    total, _, _ = count_macs(model, torch.zeros(1, *info["input_size"], device=device))
    return int(total)


def zoo_rows(
    pattern: str | None = None, source: str = "featured", macs: bool = True, figures: bool | None = None
) -> list[dict[str, Any]]:
    """The rows of :func:`archlab.models.listing.model_rows`, with ``params`` (and ``macs``) measured.

    ``figures`` ``None`` measures when at most ``FIGURES_LIMIT`` models are listed; ``True``
    always, ``False`` never.
    """
    rows = model_rows(pattern, source, params=False)
    if figures is None:
        figures = len(rows) <= FIGURES_LIMIT
    if figures:
        for row in rows:
            model = build_on_meta(row["name"])
            row["params"] = count_params(model)
            if macs:
                row["macs"] = count_macs_at_default(row["name"], model)
    return rows


def _fmt_macs(v: int | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1e9:.3f} G" if v >= 1e8 else f"{v / 1e6:.3f} M"


def _describe(row: dict[str, Any]) -> str:
    """The source column: the description, and which other sources know the same name."""
    if not row["also"]:
        return row["source"]
    bare = row["name"].split(":", 1)[1] if ":" in row["name"] else row["name"]
    if ":" in row["name"]:  # a prefixed name: the bare one builds an earlier source's model
        return f"{row['source']} [{bare} builds {row['also'][0]}'s]"
    return f"{row['source']} [also {', '.join(f'{lib}:{bare}' for lib in row['also'])}]"


def model_table(
    pattern: str | None = None,
    source: str = "featured",
    macs: bool = True,
    fmt: str = "table",
    figures: bool | None = None,
) -> str:
    """``archlab models``: one row per model as a plain table, Markdown or JSON."""
    rows = zoo_rows(pattern, source, macs, figures)
    if fmt == "json":
        return json.dumps(rows, indent=2)
    measured = rows[0]["params"] is not None
    with_macs = measured and macs
    headers = ["name", "params", "MACs (batch 1)", "input", "classes", "from", "source"]
    body = [
        [
            r["name"],
            f"{r['params']:,}" if measured else "",
            _fmt_macs(r.get("macs")),
            "x".join(map(str, r["input_size"])),
            str(r["num_classes"]),
            r["library"],
            _describe(r),
        ]
        for r in rows
    ]
    keep = [i for i in range(len(headers)) if (i != 1 or measured) and (i != 2 or with_macs)]
    headers = [headers[i] for i in keep]
    body = [[b[i] for i in keep] for b in body]
    if fmt == "markdown":
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]
    right = {headers.index(h) for h in ("params", "MACs (batch 1)") if h in headers}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)] + [line(b) for b in body]
    footer = f"{len(rows)} models"
    if with_macs:
        footer += "; MACs = multiply-accumulates (1 MAC = 2 FLOPs)"
    if not measured:
        footer += f"; parameters are counted for {FIGURES_LIMIT} models or fewer: narrow with a pattern, or pass --params"
    if any(r["also"] for r in rows):
        footer += (
            "; a name in several sources builds archlab's, else timm's, else torchvision's model: "
            "prefix it to pick one (timm:resnet50, torchvision:resnet50)"
        )
    out.append(footer)
    return "\n".join(out)
