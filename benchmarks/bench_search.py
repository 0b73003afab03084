"""Search benchmarks: a shipped search end to end, and the cost of judging an over-budget candidate.

    python benchmarks/bench_search.py study --config configs/search/digits.yaml
    python benchmarks/bench_search.py budget --config configs/search/mnist.yaml --draws 200

``study`` runs the search as `archlab search` does and prints trials run, pruned, infeasible,
wall time and the best trials (validation, and test once). ``budget`` draws candidates from the
file's space with Optuna's random sampler and times archlab's budget check of each, without
training anything: the median and 90th percentile of the infeasible ones, and how many were
infeasible.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time

import torch


def study(args) -> None:
    from archlab.search import search

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        t0 = time.perf_counter()
        result = search(
            args.config,
            out_dir=out,
            overrides=args.set,
            trials=args.trials,
            timeout=args.timeout,
            echo=print,
            progress=False,
        )
        wall = time.perf_counter() - t0
    r = result.results
    c = r["counts"]
    print(f"\n{platform.node()} | torch {torch.__version__} | {torch.get_num_threads()} threads")
    print(
        f"trials trained {r['trained']} ({c['complete']} complete, {c['pruned']} pruned), "
        f"infeasible {c['infeasible']}, failed {c['failed'] + c['killed']}; wall {wall:.1f} s"
    )
    for b in r["best"]:
        test = r["test"].get(str(b["trial"]), {})
        print(
            f"trial {b['trial']}: {b['values']} (validation); test {test.get('acc')} (once); params {b['params_count']:,.0f}"
        )


def budget(args) -> None:
    import optuna

    from archlab.data.datasets import load_dataset
    from archlab.data.inputspec import InputSpec
    from archlab.search.budget import measure
    from archlab.search.space import sample
    from archlab.search.spec import load_search

    spec = load_search(args.config, args.set)
    cfg0 = spec.trial_config({})
    try:
        data = InputSpec.of_dataset(load_dataset(cfg0.data), cfg0.data.normalize)
    except FileNotFoundError:  # the budget check needs only the input format
        from archlab.models import model_info

        info = model_info(cfg0.model.name)
        data = InputSpec(tuple(info["input_size"]), tuple(str(i) for i in range(info["num_classes"])))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    measure(spec.trial_config({}), data, spec.budget)  # warm-up: first imports and tracing
    infeasible, feasible = [], []
    for _ in range(args.draws):
        cfg = spec.trial_config(sample(study.ask(), spec.space), input_size=data.input_size)
        m = measure(cfg, data, spec.budget)
        (feasible if m.feasible else infeasible).append(m.seconds)
    print(f"{platform.node()} | torch {torch.__version__} | {torch.get_num_threads()} threads")
    print(f"draws {args.draws}: infeasible {len(infeasible)}, feasible {len(feasible)}")
    if infeasible:
        q = statistics.quantiles(infeasible, n=10)
        print(
            f"judging an infeasible candidate: median {1000 * statistics.median(infeasible):.1f} ms, p90 {1000 * q[-1]:.1f} ms"
        )
    if feasible:
        print(
            f"measuring a feasible candidate (all budgets): median {1000 * statistics.median(feasible):.1f} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("study", "budget"))
    ap.add_argument("--config", default="configs/search/digits.yaml")
    ap.add_argument("--trials", type=int)
    ap.add_argument("--timeout", type=float, help="start no new trial after this many seconds")
    ap.add_argument("--out", help="keep the search directory here (default: a temporary one)")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--set", action="append", default=[], help="fix a config key, as archlab search --set")
    args = ap.parse_args()
    study(args) if args.what == "study" else budget(args)


if __name__ == "__main__":
    main()
