"""``archlab report``, ``archlab compare`` and ``archlab explain``: argparse subcommands over :mod:`archlab.report`."""

from __future__ import annotations

import argparse


def _cmd_report(args: argparse.Namespace) -> int:
    from archlab.report.run_report import write_run_report

    md, html = write_run_report(args.run_dir)
    print(f"wrote {md}\nwrote {html}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from archlab.report.compare import compare_runs

    text = compare_runs(args.run_dirs, fmt=args.format, out=args.out)
    if args.out:
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from archlab.report.explainer import explain

    out = args.out or str(Path(args.run_dir) / "explain")
    paths = explain(
        args.run_dir,
        args.images,
        out,
        method=args.method,
        target=args.target,
        bands_rgb=args.bands,
        layer=args.layer,
        device=args.device,
        convert=args.convert,
    )
    for p in paths:
        print(f"wrote {p}")
    return 0


def add_report_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report``, ``compare`` and ``explain`` subcommands; each sets ``func``."""
    from archlab.report.compare import FORMATS
    from archlab.report.saliency import METHODS

    p = subparsers.add_parser("report", help="(re)write report.md and report.html of a run directory")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by archlab train")
    p.set_defaults(func=_cmd_report)

    p = subparsers.add_parser(
        "compare", help="compare runs: parameters, MACs, activations, time, best metric, macro F1"
    )
    p.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="run directories; the first is the baseline"
    )
    p.add_argument("--format", "-f", choices=FORMATS, default="md", help="md (default), html or csv")
    p.add_argument("--out", "-o", metavar="FILE", help="write to FILE (markdown plots go to FILE_files/)")
    p.set_defaults(func=_cmd_compare)

    p = subparsers.add_parser("explain", help="saliency overlays (Grad-CAM, ViT attention) for chosen images")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by archlab train")
    p.add_argument(
        "--images",
        "-i",
        nargs="+",
        required=True,
        metavar="PATH",
        help="PNG/JPEG, .npy (C×H×W or H×W×C; 4-D is a batch) or GeoTIFF",
    )
    p.add_argument(
        "--method", "-m", choices=METHODS, default="gradcam", help="saliency method (default gradcam)"
    )
    p.add_argument(
        "--target", "-t", metavar="CLASS", help="class name or index (default: the top-scoring class)"
    )
    p.add_argument(
        "--bands", nargs=3, metavar="BAND", help="bands of the displayed RGB composite (default B04 B03 B02)"
    )
    p.add_argument("--layer", metavar="NAME", help="CAM layer by module name (default: the last conv ≥ 2×2)")
    p.add_argument(
        "--convert",
        action="store_true",
        help="convert colour images to grey (or grey to RGB) to match the model's bands",
    )
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps")
    p.add_argument("--out", "-o", metavar="DIR", help="output folder (default RUN_DIR/explain)")
    p.set_defaults(func=_cmd_explain)
