"""Time ``archlab.inspect.summarize`` against torchinfo (if installed) on the same models.

Usage::

    PYTHONPATH=src python benchmarks/bench_summary.py [--repeat 3] [--threads 2]

Prints, per model, the best wall time of ``summarize`` (one instrumented train-mode
forward pass with autograd), of torchinfo's ``summary`` (one eval-mode forward without
grad) and of a bare ``model(x)`` in train mode, for reference. Models are built once
per row; construction time is not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable

import torch


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import torchvision

    import archlab
    from archlab.inspect import summarize

    try:
        import torchinfo
    except ImportError:
        torchinfo = None

    cases = [
        ("mnist_net3 1×28×28", archlab.create_model("mnist_net3"), (1, 28, 28)),
        ("resnet50 3×224×224", torchvision.models.resnet50(), (3, 224, 224)),
        ("vit_b_16 3×224×224", torchvision.models.vit_b_16(), (3, 224, 224)),
    ]
    tool = f"torchinfo {torchinfo.__version__}" if torchinfo else "torchinfo (not installed)"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeat}, batch 1, fp32"
    )
    print(f"| model | archlab summarize (s) | {tool} (s) | bare forward, train (s) |")
    print("|---|---:|---:|---:|")
    for name, model, size in cases:
        x = torch.randn(1, *size)
        ours = best_of(lambda m=model, s=size: summarize(m, s), args.repeat)
        theirs = "--"
        if torchinfo is not None:

            def run_torchinfo(m: torch.nn.Module = model, s: tuple = size) -> None:
                with contextlib.redirect_stdout(io.StringIO()):
                    torchinfo.summary(m, input_size=(1, *s), verbose=0)

            theirs = f"{best_of(run_torchinfo, args.repeat):.3f}"
        model.train()
        bare = best_of(lambda m=model, t=x: m(t), args.repeat)
        print(f"| {name} | {ours:.3f} | {theirs} | {bare:.3f} |", flush=True)


if __name__ == "__main__":
    main()
