"""``archlab bench``, ``archlab export`` and ``archlab predict``: argparse subcommands over :mod:`archlab.bench`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _is_run(spec: str) -> bool:
    p = Path(spec)
    return p.is_dir() or (p.is_file() and p.suffix == ".pt")


def _cmd_bench(args: argparse.Namespace) -> int:
    from archlab.bench.bench import bench_model, render_rows

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = []
    for spec in args.models:
        model, label, size = spec, spec, args.input_size
        if _is_run(spec):
            from archlab.rundir import restore

            restored = restore(spec)
            model, label = restored.model, f"{restored.model_name} ({Path(spec).name})"
            size = size or list(restored.input_size)
        rows += bench_model(
            model,
            batch_sizes=args.batch,
            mode=args.mode,
            channels_last=args.channels_last,
            amp=args.amp,
            compile=args.compile,
            device=args.device,
            warmup=args.warmup,
            steps=args.steps,
            input_size=size,
            label=label,
        )
    text = render_rows(rows, args.format)
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(f"wrote {len(rows)} rows to {args.output}")
    else:
        print(text)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from archlab.bench.export import ExportMismatch, export_run

    try:
        result = export_run(args.run_dir, args.format, out=args.out, which=args.which, opset=args.opset)
    except ExportMismatch as exc:
        print(f"archlab: error: {exc}", file=sys.stderr)
        return 1
    diffs = ", ".join(f"batch {b}: {d:.2g}" for b, d in result.max_abs_diff.items())
    checker = "onnxruntime" if result.format == "onnx" else "torch.jit.load"
    print(f"wrote {result.path} and {result.sidecar.name}")
    print(f"outputs match PyTorch within {result.atol:g} ({checker}; max abs diff {diffs})")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from archlab.bench.predict import predict, render_predictions

    doc = predict(
        args.run_dir,
        args.inputs,
        topk=args.topk,
        allow_resize=args.allow_resize,
        convert=args.convert,
        batch_size=args.batch_size,
        which=args.which,
        device=args.device,
    )
    print(render_predictions(doc, as_json=args.json))
    return 0


def add_bench_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench``, ``export`` and ``predict`` subcommands; each sets ``func(args) -> int``."""
    p = subparsers.add_parser(
        "bench",
        help="throughput, latency and peak memory of models (inference or training steps)",
        description="Warm-up, then timed steps; median and interquartile range of images/s and latency.",
    )
    p.add_argument(
        "models", nargs="+", metavar="MODEL", help="registered model name, or a run directory / .pt"
    )
    p.add_argument("--batch", "-b", nargs="+", type=_positive_int, default=[1, 32], metavar="N",
                   help="batch sizes (default: 1 32); halved on out-of-memory")  # fmt: skip
    p.add_argument("--mode", choices=("infer", "train"), default="infer",
                   help="infer: forward only; train: forward, backward and SGD step, each timed")  # fmt: skip
    p.add_argument(
        "--channels-last", action="store_true", help="model and input in channels-last memory format"
    )
    p.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none", help="autocast dtype")
    p.add_argument(
        "--compile", action="store_true", help="torch.compile the model (compile time is in warm-up)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: 5)")
    p.add_argument("--steps", type=_positive_int, default=20, help="timed steps (default: 20)")
    p.add_argument("--input-size", nargs=3, type=_positive_int, metavar=("C", "H", "W"),
                   help="input size (default: the model's registered or trained size)")  # fmt: skip
    p.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--output", "-o", help="write the table/CSV/JSON to this file")
    p.set_defaults(func=_cmd_bench)

    p = subparsers.add_parser(
        "export",
        help="export a trained run to ONNX or TorchScript, checked against PyTorch",
        description="Writes the model with a dynamic batch axis and a JSON sidecar (classes, bands, normalisation).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (or a .pt checkpoint)")
    p.add_argument("--format", "-f", choices=("onnx", "torchscript"), default="onnx")
    p.add_argument(
        "--out", "-o", help="output file (default: RUN_DIR/export/model.onnx or model.torchscript.pt)"
    )
    p.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint to export")
    p.add_argument("--opset", type=_positive_int, default=None, help="ONNX opset (default: the exporter's)")
    p.set_defaults(func=_cmd_export)

    p = subparsers.add_parser(
        "predict",
        help="classify images, folders, .npy arrays or GeoTIFFs with a trained run",
        description="Top-k classes (single-label) or the classes at or above threshold (multi-label).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="run directory, .pt checkpoint, or an exported .onnx / .torchscript.pt with its sidecar")  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive), .npy, .tif")
    p.add_argument("--topk", "-k", type=_positive_int, default=5, help="classes shown per input (default: 5)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--allow-resize", action="store_true",
                   help="resize inputs of another height/width bilinearly instead of failing")  # fmt: skip
    p.add_argument("--convert", action="store_true",
                   help="convert colour images to grey (or grey to RGB) to match the model's bands")  # fmt: skip
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint of a run directory")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.set_defaults(func=_cmd_predict)
