"""``archlab summary`` and ``archlab diff``: argparse subcommands over :mod:`archlab.inspect`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from torch import nn

FORMATS = ("table", "markdown", "json")
STYLES = ("archlab", "torchinfo", "torchsummary")
DTYPES = ("float32", "float16", "bfloat16", "float64")


def _is_config(spec: str) -> bool:
    """An experiment config (a YAML file with a ``model`` section), not an architecture file (``layers``)."""
    if not (spec.endswith((".yaml", ".yml")) or Path(spec).is_file()):
        return False
    if Path(spec).is_file():
        from archlab.config import read_yaml

        return "layers" not in read_yaml(spec)
    return True


def resolve_model(
    spec: str, input_size: list[int] | None, freeze: list[str] | None = None
) -> tuple[nn.Module, tuple[int, ...], str]:
    """``(model, input_size, label)`` for a model name or a YAML experiment config.

    A config's ``model.freeze`` is applied, or ``freeze`` when given (patterns, or ``["backbone"]``),
    so the summary shows the trainable and frozen parameters training will see.
    """
    from archlab.models import create_model, model_info
    from archlab.models.freeze import freeze as freeze_layers

    if _is_config(spec):
        if not Path(spec).is_file():
            raise FileNotFoundError(f"config {spec!r} not found; pass a YAML file or a registered model name")
        try:
            from archlab.config import load_config
        except ImportError as exc:
            raise ValueError(
                f"cannot read {spec}: archlab.config.load_config is not available ({exc})"
            ) from exc
        cfg = load_config(spec)
        name = cfg.model.name
        default = tuple(model_info(name)["input_size"])
        in_chans = cfg.model.in_chans if cfg.model.in_chans is not None else default[0]
        image = getattr(getattr(cfg, "data", None), "image_size", None)
        size = (int(in_chans), *(image if image else default[1:]))
        model = create_model(
            name, num_classes=cfg.model.num_classes, in_chans=in_chans, **dict(cfg.model.kwargs or {})
        )
        label = f"{name} ({Path(spec).name})"
        freeze = freeze or cfg.model.freeze
        num_classes = cfg.model.num_classes
    else:
        info = model_info(spec)
        default = tuple(info["input_size"])
        model = create_model(spec)
        size, label, num_classes = default, spec, info["num_classes"]
    if freeze:
        freeze_layers(model, freeze, num_classes=num_classes)
    if input_size:
        size = tuple(input_size)
        if len(size) != len(default):
            raise ValueError(
                f"--input-size for {label} needs {len(default)} numbers like {' '.join(map(str, default))}, got {len(size)}"
            )
    return model, tuple(int(s) for s in size), label


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input-size",
        nargs="+",
        type=int,
        metavar="N",
        help="per-sample input size C H W (default: the model's)",
    )
    p.add_argument(
        "--batch", type=int, default=1, help="batch size the activation memory is measured at (default 1)"
    )
    p.add_argument("--depth", type=int, default=3, help="deepest module level listed (default 3)")
    p.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="dtype of parameters and input (default float32)"
    )
    p.add_argument(
        "--device",
        default=None,
        help="run a real forward on this device (cpu, cuda); by default the pass runs on meta tensors: "
        "the same operators, shapes and saved tensors, nothing allocated",
    )


def add_summary_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``summary MODEL|CONFIG`` to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "summary",
        help="measure a model: parameters, MACs, activation memory, receptive field per layer",
        description="Per-layer output shape, parameters, MACs and saved activations, measured on one forward pass.",
    )
    p.add_argument(
        "model",
        metavar="MODEL|CONFIG",
        help="model name (archlab models; timm:NAME / torchvision:NAME pick a source) or a YAML config",
    )
    _add_common(p)
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument(
        "--style",
        choices=STYLES,
        default="archlab",
        help="torchinfo / torchsummary: also print that tool's estimate beside the measurement",
    )
    p.add_argument(
        "--freeze",
        action="append",
        metavar="PATTERN",
        help="freeze layers before measuring: 'backbone' (all but the classifier head) or a layer-name "
        "pattern such as 'layer1.*' (repeatable); a config's model.freeze applies without it",
    )
    p.add_argument(
        "--fit",
        metavar="SIZE",
        help="also find the largest training batch that fits in SIZE of memory (e.g. 24GB, 16GiB), "
        "fp32 and bf16, contiguous and channels_last",
    )
    p.add_argument(
        "--optim",
        choices=("sgd", "adam", "adamw"),
        help="optimiser whose state --fit counts (default: the config's, else adamw)",
    )
    p.set_defaults(func=run_summary)
    return p


def add_diff_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``diff A B`` to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "diff",
        help="compare two models or configs: parameters, MACs, activation memory, blocks changed",
        description="Changelog table of two models: figures, deltas, ratios, and blocks added, removed or changed.",
    )
    p.add_argument("a", metavar="A", help="model name or YAML config (the old one)")
    p.add_argument("b", metavar="B", help="model name or YAML config (the new one)")
    _add_common(p)
    p.add_argument("--format", choices=FORMATS, default="markdown")
    p.set_defaults(func=run_diff)
    return p


def _summarize(spec: str, args: argparse.Namespace):
    from archlab.inspect.summary import summarize
    from archlab.models.registry import shadow_note

    model, size, label = resolve_model(spec, args.input_size, getattr(args, "freeze", None))
    s = summarize(model, size, batch_size=args.batch, depth=args.depth, device=args.device, dtype=args.dtype)
    note = None if _is_config(spec) else shadow_note(spec)
    if note:
        s.notes.append(note)
    return model, size, label, s


def comparison_rows(
    style: str, model: nn.Module, size: tuple[int, ...], s: Any, batch: int, device: str, tool_text: str = ""
) -> list[dict]:
    """Figures of torchinfo/torchsummary beside archlab's, as ``{figure, tool, archlab}`` rows.

    For ``torchsummary``, ``tool_text`` is the table :func:`torchsummary_table` printed.
    """
    from archlab.inspect.styles import torchinfo_estimate
    from archlab.inspect.units import fmt_count, fmt_int

    if style == "torchinfo":
        e = torchinfo_estimate(model, size, batch_size=batch, device=device)
        return [
            {
                "figure": "Total params",
                "tool": fmt_int(e["total_params"]),
                "archlab": fmt_int(s.total_params),
            },
            {
                "figure": "Total mult-adds",
                "tool": e["mult_adds_printed"],
                "archlab": f"{fmt_count(s.macs)} MACs",
            },
            {
                "figure": "Forward/backward pass size (MB)",
                "tool": f"{e['pass_mb']:.2f}",
                "archlab": f"{s.activation_bytes / 1e6:.2f} (saved for backward)",
            },
            {
                "figure": "Params size (MB)",
                "tool": f"{e['params_mb']:.2f}",
                "archlab": f"{s.params_bytes / 1e6:.2f}",
            },
        ]
    if tool_text.startswith("torchsummary 1.5.1 fails"):
        return [{"figure": "torchsummary 1.5.1", "tool": tool_text, "archlab": ""}]
    lines = {ln.split(":")[0]: ln.split(":", 1)[1].strip() for ln in tool_text.splitlines() if ":" in ln}
    return [
        {"figure": "Total params", "tool": lines["Total params"], "archlab": fmt_int(s.total_params)},
        {
            "figure": "Forward/backward pass size (MB)",
            "tool": lines["Forward/backward pass size (MB)"] + " (MiB)",
            "archlab": f"{s.activation_bytes / 2**20:.2f} MiB (saved for backward)",
        },
        {
            "figure": "Params size (MB)",
            "tool": lines["Params size (MB)"] + " (MiB)",
            "archlab": f"{s.params_bytes / 2**20:.2f} MiB",
        },
    ]


def run_summary(args: argparse.Namespace) -> int:
    """Print the summary of ``args.model`` in the requested format (and style)."""
    if args.fit:
        from archlab.inspect.fit import parse_size

        parse_size(args.fit)  # a bad size is an error before anything is measured
    model, size, label, s = _summarize(args.model, args)
    extra: list[dict] = []
    tool_text = ""
    if args.style == "torchsummary":
        from archlab.inspect.styles import torchsummary_table

        tool_text = torchsummary_table(model, size, device=args.device or "cpu")
    if args.style != "archlab":
        extra = comparison_rows(args.style, model, size, s, args.batch, args.device or "cpu", tool_text)
    fit = _fit(args, model, size) if args.fit else None
    if args.format == "json":
        d = s.to_dict()
        d["model"] = label
        if extra:
            d["style"] = {"tool": args.style, "comparison": extra}
        if fit:
            d["fit"] = {"budget_bytes": fit[0], "optim": fit[1], "rows": fit[2]}
        print(json.dumps(d, indent=2))
        return 0
    body = s.to_markdown() if args.format == "markdown" else s.to_table()
    print(body)
    if fit:
        from archlab.inspect.fit import render_fit

        print("\n" + render_fit(fit[2], fit[0], fit[1], markdown=args.format == "markdown"))
    if tool_text.startswith("torchsummary 1.5.1 fails"):
        print(f"\n{tool_text}")
    elif extra:
        tool = "torchinfo 1.8.0" if args.style == "torchinfo" else "torchsummary 1.5.1"
        if tool_text:
            print(f"\n{tool} prints (emulated):\n{tool_text}")
        print(f"\n{tool} estimate beside archlab's measurement:")
        print(_pairs_table(extra, tool, markdown=args.format == "markdown"))
    return 0


def _fit(args: argparse.Namespace, model: nn.Module, size: tuple[int, ...]) -> tuple[int, str, list[dict]]:
    """``(budget bytes, optimiser name, rows)`` of ``--fit``, the optimiser from ``--optim`` or the config."""
    from archlab.config import OptimConfig, load_config
    from archlab.inspect.fit import fit_table, parse_size

    budget = parse_size(args.fit)
    optim = load_config(args.model).optim if _is_config(args.model) else OptimConfig(name="adamw")
    if args.optim:
        optim = OptimConfig(name=args.optim)
    name = {"sgd": "SGD" + (" with momentum" if optim.momentum else ""), "adam": "Adam", "adamw": "AdamW"}
    return budget, name[optim.name], fit_table(model, size, budget, optim)


def _pairs_table(rows: list[dict], tool: str, markdown: bool) -> str:
    head = ["figure", tool, "archlab (measured)"]
    cells = [head] + [[r["figure"], r["tool"], r["archlab"]] for r in rows]
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|---|---:|---:|"]
        return "\n".join(out + ["| " + " | ".join(c) + " |" for c in cells[1:]])
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(3)).rstrip() for c in cells)


def run_diff(args: argparse.Namespace) -> int:
    """Print the changelog table comparing ``args.a`` and ``args.b``."""
    from archlab.inspect.diff import diff

    _, _, label_a, sa = _summarize(args.a, args)
    _, _, label_b, sb = _summarize(args.b, args)
    d = diff(sa, sb, label_a, label_b)
    if args.format == "json":
        print(json.dumps(d.to_dict(), indent=2))
    elif args.format == "table":
        print(d.to_table())
    else:
        print(d.to_markdown())
    return 0
