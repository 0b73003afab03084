"""``archlab search``: parse, call :func:`archlab.search.run.search`, print."""

from __future__ import annotations

import argparse


def add_search_parser(sub) -> None:
    p = sub.add_parser(
        "search",
        help="search architectures and hyperparameters under budgets (Optuna)",
        description="Search a family of architectures and their training under budgets, on Optuna. "
        "Each trial is an ordinary run directory; the test split is used once, at the end.",
    )
    p.add_argument("--config", "-c", help="search file, e.g. configs/search/digits.yaml")
    p.add_argument(
        "--trials", type=int, metavar="N", help="trials to train (infeasible candidates do not count)"
    )
    p.add_argument("--timeout", type=float, metavar="S", help="start no new trial after S seconds")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes sharing the study")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="study storage: sqlite:///FILE, postgresql://..., or journal:FILE on a shared filesystem "
        "(default: SEARCH_DIR/study.db)",
    )
    p.add_argument(
        "--resume", metavar="SEARCH_DIR", help="continue a search (its killed trial is marked failed)"
    )
    p.add_argument(
        "--set",
        "-s",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fix a config key for every trial",
    )
    p.add_argument(
        "--out-dir", default="searches", help="where new search directories go (default: searches)"
    )
    p.add_argument("--name", help="search directory name (default: the search file's name)")
    p.set_defaults(func=_cmd_search)


def _cmd_search(args: argparse.Namespace) -> int:
    from archlab.search.run import search

    result = search(
        args.config,
        trials=args.trials,
        timeout=args.timeout,
        workers=args.workers,
        storage=args.storage,
        resume=args.resume,
        overrides=args.set,
        out_dir=args.out_dir,
        name=args.name,
    )
    return 0 if result.results["trained"] > 0 else 1
