"""Model 3's training step on the CPU: eager against the whole step compiled, two ways.

    python benchmarks/bench_cpu_compile.py [--steps 100]

Batch 128, channels_last, SGD Nesterov under OneCycle, as ``configs/mnist/net3.yaml``
trains. Three copies of the model, from the same weights, train side by side in one
process:

* eager;
* the whole step compiled with inductor's own random numbers for the dropout masks;
* the whole step compiled as ``train.compile`` does it (ATen's random numbers on a CPU:
  :func:`archlab.train.compiled.compile_model`).

Each is first compiled and warmed up on its own (the seconds are printed), then their
steps are interleaved, one of each in turn, so that a slower or faster spell of this
shared machine falls on all three alike. It prints each setting's median step and its
speed relative to eager.
"""

from __future__ import annotations

import argparse
import time

import torch

SETTINGS = {
    "eager": "eager",
    "inductor_rng": "whole step compiled, inductor's in-kernel random numbers",
    "train_compile": "whole step compiled as train.compile (ATen random numbers)",
}
WARMUP = 5


class Setting:
    """One copy of Model 3 with its optimiser, schedule and (maybe compiled) step."""

    def __init__(self, key: str, steps: int) -> None:
        from archlab.models import create_model
        from archlab.train import compiled

        torch.manual_seed(0)
        model = create_model("mnist_net3").to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=0.05, total_steps=steps + WARMUP, pct_start=0.2, cycle_momentum=False
        )
        self.forward = model
        if key == "inductor_rng":
            self.forward = torch.compile(model)
            compiled.compile_optimizer_step(self.opt)
        elif key == "train_compile":
            self.forward = compiled.compile_model(model, torch.device("cpu"))
            compiled.compile_optimizer_step(self.opt)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        t0 = time.perf_counter()
        torch.nn.functional.cross_entropy(self.forward(x), y).backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.sched.step()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100, help="timed steps per setting, interleaved")
    args = ap.parse_args()
    from archlab.train.compiled import compile_seconds
    from archlab.train.precision import cpu_bf16_flags

    torch.set_num_threads(2)
    print(
        f"torch {torch.__version__}, vector ISA {torch.backends.cpu.get_cpu_capability()}, native bf16: "
        f"{', '.join(cpu_bf16_flags()) or 'none'}, 2 threads, Model 3, batch 128, {args.steps} steps each"
    )
    x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))
    settings, warm = {}, {}
    for key in SETTINGS:
        before, t0 = compile_seconds(), time.perf_counter()
        settings[key] = Setting(key, args.steps)
        for _ in range(WARMUP):
            settings[key].step(x, y)
        warm[key] = (time.perf_counter() - t0, compile_seconds() - before)
    times: dict[str, list[float]] = {key: [] for key in SETTINGS}
    for _ in range(args.steps):
        for key, setting in settings.items():
            times[key].append(setting.step(x, y))
    median = {key: sorted(t)[len(t) // 2] for key, t in times.items()}
    print("| setting | warm-up, 5 steps (s) | of which compiling (s) | median step (ms) | vs eager |")
    print("|---|---|---|---|---|")
    for key, label in SETTINGS.items():
        print(
            f"| {label} | {warm[key][0]:.1f} | {warm[key][1]:.1f} | {1000 * median[key]:.0f} "
            f"| {median['eager'] / median[key]:.2f}× |"
        )


if __name__ == "__main__":
    main()
