"""The MNIST accuracy bar: < 8,000 parameters, >= 99.4 % test accuracy within 15 epochs, 5 seeds of 5.

Trains each given config once per seed on real MNIST (sequentially, in one run, on this
machine's CPU) and prints, per seed: parameters, best test accuracy and its epoch, the
first epoch at or above the target and the wall time to reach it (from the run's start,
evaluation included), final accuracy and total wall time; then how many seeds reached
the bar. Test accuracy is read every epoch only to time the bar; nothing is selected on it.

    python benchmarks/bench_mnist_accuracy.py --config configs/mnist/net3_bar.yaml --seeds 0 1 2 3 4
    python benchmarks/bench_mnist_accuracy.py --config best.yaml configs/mnist/net3_bar.yaml  # side by side

``--stop-at-target`` ends each run at the first epoch at or above the target. The schedule still
spans ``--epochs`` (OneCycle is laid out for 15 epochs from the start), so every epoch up to that
point is the one the full run would have trained; a run that never reaches the target trains all
its epochs. It measures "reached within N epochs" and "time to reach it" at a fraction of the cost,
but not the final accuracy.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

import torch


class StopAtTarget:
    """Ends a run at the first epoch whose test accuracy reaches the target (a timing aid, not selection)."""

    def __init__(self, target: float) -> None:
        self.target = target
        self.reason = f"test accuracy reached {100 * target:.2f} %"

    def on_train_start(self, run) -> None:
        pass

    def on_epoch_end(self, run, record: dict) -> bool:
        return record.get("test", {}).get("acc", 0.0) >= self.target

    def on_train_end(self, run, results: dict) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", nargs="+", default=["configs/mnist/net3_bar.yaml"])
    ap.add_argument("--root", default="../shared/datasets")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--target", type=float, default=0.994)
    ap.add_argument("--set", action="append", default=[], help="extra config overrides")
    ap.add_argument("--json", help="also write the per-seed results here")
    ap.add_argument(
        "--stop-at-target", action="store_true", help="end each run when it first reaches the target"
    )
    args = ap.parse_args()

    import archlab

    rows = []
    for seed, config in [(s, c) for s in args.seeds for c in args.config]:  # interleaved: fair under load
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            result = archlab.train(
                config,
                overrides=[
                    f"data.root={args.root}",
                    f"run.seed={seed}",
                    f"train.epochs={args.epochs}",
                    f"run.out_dir={out}",
                    "run.progress=false",
                    "run.summary=false",
                    *args.set,
                ],
                callbacks=[StopAtTarget(args.target)] if args.stop_at_target else [],
                echo=lambda line, s=seed: (
                    print(f"[seed {s}] {line}", flush=True) if line.startswith("epoch") else None
                ),
            )
            wall = time.perf_counter() - t0
        accs = [r["test"]["acc"] for r in result.history]
        first = next((i + 1 for i, a in enumerate(accs) if a >= args.target), None)
        rows.append(
            {
                "config": config,
                "to_target_s": result.history[first - 1]["wall_time_s"] if first else None,
                "seed": seed,
                "params": result.results["params"],
                "best_test_acc": max(accs),
                "best_epoch": accs.index(max(accs)) + 1,
                "first_epoch_at_target": first,
                "epochs_run": len(accs),
                "final_test_acc": accs[-1],
                "wall_s": wall,
                "train_s": result.results["train_time_s"],
            }
        )
    print(
        f"\nconfigs {', '.join(args.config)}, {args.epochs} epochs, target {100 * args.target:.2f} %; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    print(
        "| config | seed | params | best test acc | its epoch | first epoch ≥ target | time to target | epochs run | acc at the last | wall time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        first = r["first_epoch_at_target"] or "—"
        reach = f"{r['to_target_s']:.0f} s" if r["to_target_s"] is not None else "—"
        print(
            f"| {r['config']} | {r['seed']} | {r['params']:,} | {100 * r['best_test_acc']:.2f} % | {r['best_epoch']} | "
            f"{first} | {reach} | {r['epochs_run']} | {100 * r['final_test_acc']:.2f} % | {r['wall_s']:.0f} s |"
        )
    for config in args.config:
        mine = [r for r in rows if r["config"] == config]
        hits = sum(r["first_epoch_at_target"] is not None for r in mine)
        print(
            f"{config}: {hits} of {len(mine)} seeds reached {100 * args.target:.2f} % within {args.epochs} epochs"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
