"""The ``archlab`` command line: parse, call the Python API, print.

A user's mistake (bad config key, unknown model, missing file) ends in a
one-line ``archlab: error: ...`` on stderr and a non-zero exit, no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _cmd_train(args: argparse.Namespace) -> int:
    from archlab.train.engine import train

    if args.resume and args.config:
        raise ValueError(
            "--resume continues a run with its own config; drop --config (use --set to change keys)"
        )
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        from archlab.train.distributed import launch

        argv = ["train"] + (["--config", args.config] if args.config else [])
        argv += [a for kv in args.set for a in ("--set", kv)] + (
            ["--resume", args.resume] if args.resume else []
        )
        return launch(args.nproc, argv)
    if args.print_config:
        import yaml

        from archlab.config import load_config

        print(yaml.safe_dump(load_config(args.config, args.set).to_dict(), sort_keys=False), end="")
        return 0
    train(args.config, overrides=args.set, resume=args.resume)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from archlab.inspect.zoo import model_table

    print(model_table(args.pattern, source=args.source, macs=args.macs, fmt=args.format, figures=args.params))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from archlab import __version__

    parser = argparse.ArgumentParser(
        prog="archlab",
        description="Design, measure, train and compare image-classification architectures.",
    )
    parser.add_argument("--version", action="version", version=f"archlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("train", help="train a model (no arguments: the small CNN on scikit-learn's digits)")
    p.add_argument("--config", "-c", help="YAML experiment, e.g. configs/mnist/net3.yaml")
    p.add_argument(
        "--set",
        "-s",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=3 (repeatable)",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last.pt")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="data-parallel over N processes on this machine (runs torchrun; see docs/distributed.md)",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "models",
        help="list models by source (archlab, timm, torchvision) with parameter counts",
        description="List the models create_model builds. A name in several sources builds archlab's, "
        "else timm's, else torchvision's; prefix it to pick one (timm:resnet50, torchvision:resnet50).",
    )
    p.add_argument("pattern", nargs="?", default=None, help="shell wildcard, e.g. 'mnist*', '*v9' or 'vit_*'")
    p.add_argument(
        "--source",
        choices=("featured", "archlab", "timm", "torchvision", "all"),
        default="featured",
        help="featured (default): archlab's own models and the standard timm families; "
        "archlab, timm or torchvision: every model of that source; all: every source",
    )
    p.add_argument(
        "--no-macs",
        dest="macs",
        action="store_false",
        help="skip counting MACs at each model's default input size (parameters only)",
    )
    p.add_argument(
        "--params",
        dest="params",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="count parameters (and MACs) however many models are listed; default: when 50 or fewer",
    )
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    p.set_defaults(func=_cmd_models)

    from archlab.inspect import cli as inspect_cli

    inspect_cli.add_summary_parser(sub)
    inspect_cli.add_diff_parser(sub)

    from archlab.bench import cli as bench_cli

    bench_cli.add_bench_parsers(sub)

    from archlab.report import cli as report_cli

    report_cli.add_report_parsers(sub)

    from archlab.data import cli as data_cli

    data_cli.add_data_parser(sub)

    from archlab.search import cli as search_cli

    search_cli.add_search_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"archlab: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `archlab models | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(
            "archlab: interrupted; a training run continues with: archlab train --resume RUN_DIR",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:
        return _known_failure(exc)


def _known_failure(exc: Exception) -> int:
    """One line for a run that stopped for a reason it explains itself; anything else is a bug: re-raise."""
    from archlab.rundir import DiskFull
    from archlab.train import OutOfMemory, RunInterrupted, TrainingDiverged

    if isinstance(exc, RunInterrupted):  # SIGTERM or Ctrl-C during training: where, and how to resume
        print(f"archlab: {exc}", file=sys.stderr)
        return 128 + exc.signum
    if isinstance(exc, (DiskFull, OutOfMemory, TrainingDiverged)):
        print(f"archlab: error: {exc}", file=sys.stderr)
        return 1
    raise exc


if __name__ == "__main__":
    raise SystemExit(main())
