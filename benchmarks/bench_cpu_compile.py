"""Model 3's training step on the CPU: eager, forward compiled, and forward + optimiser compiled.

    python benchmarks/bench_cpu_compile.py

One process per setting would be fairer to compile caches; here each setting runs in turn in
one process, batch 128, channels_last, SGD Nesterov with a tensor learning rate (so the
OneCycle schedule does not force a recompilation every step), 40 steps. It prints the first
steps (compilation included) and the median step after the tenth.
"""

from __future__ import annotations

import time

import torch


def run(name: str, compile_forward: bool, compile_step: bool) -> None:
    from archlab.models import create_model

    torch.manual_seed(0)
    model = create_model("mnist_net3").to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=torch.tensor(0.05), momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=200, pct_start=0.2)
    forward = torch.compile(model) if compile_forward else model
    step = torch.compile(opt.step) if compile_step else opt.step
    x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))
    times = []
    for _ in range(40):
        t0 = time.perf_counter()
        torch.nn.functional.cross_entropy(forward(x), y).backward()
        step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        times.append(time.perf_counter() - t0)
    later = sorted(times[10:])
    print(
        f"| {name} | {', '.join(f'{t:.2f}' for t in times[:4])} | {1000 * later[len(later) // 2]:.0f} |",
        flush=True,
    )


def main() -> None:
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, 2 threads")
    print("| setting | first four steps (s) | median step after the tenth (ms) |\n|---|---|---|")
    run("eager", False, False)
    run("forward compiled (train.compile today)", True, False)
    run("forward and optimiser step compiled", True, True)


if __name__ == "__main__":
    main()
