"""Memory answered at any scale: the summary on meta tensors, and ``--fit`` against measured peaks.

    python benchmarks/bench_memory.py b7       # summary efficientnet_b7 3×600×600 at batch 64: time,
                                               # peak RSS, activations against 64 × a real batch-1 pass
    python benchmarks/bench_memory.py fit      # predicted training-step peak against the CPU's
                                               # measured peak RSS, a few models and batches
    python benchmarks/bench_memory.py cuda     # the same prediction against torch.cuda.max_memory_allocated

Each measurement runs in its own process, so peak RSS (``VmHWM``) belongs to it alone.
``fit`` builds the model and optimiser, runs one step at batch 2 (loading the kernels and
building the optimiser's state), resets the peak to the resident set (``clear_refs``), runs
two real training steps at the batch, and reports
the growth of the peak over that baseline beside :func:`archlab.inspect.fit.step_memory`'s
prediction of the same growth (the step's peak less the parameters, buffers and optimiser
state, which the baseline already holds).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _build(name: str, size: tuple[int, ...]):
    from archlab.models import create_model

    return create_model(name), size


def child_summary(name: str, size: list[int], batch: int, device: str | None) -> dict:
    from archlab.inspect.summary import summarize

    t0 = time.perf_counter()
    model, _ = _build(name, tuple(size))
    s = summarize(model, tuple(size), batch_size=batch, device=device, depth=0)
    return {
        "seconds": time.perf_counter() - t0,
        "peak_rss": _status("VmHWM"),
        "activation_bytes": s.activation_bytes,
        "macs": s.macs,
        "device": s.device,
    }


def child_step(name: str, size: list[int], batch: int, optim: str, predict: bool) -> dict:
    from archlab.config import OptimConfig
    from archlab.train.optim import build_optimizer

    torch.set_num_threads(2)
    model, _ = _build(name, tuple(size))
    model.train()
    cfg = OptimConfig(name=optim, momentum=0.9)
    if predict:
        from archlab.inspect.fit import step_memory

        m = step_memory(model, tuple(size), batch, cfg)
        held = sum(m.parts.get(k, 0) for k in ("parameter", "buffer", "optstate"))  # the baseline holds them
        return {"predicted_growth": m.peak - held, "parts": m.parts}
    opt = build_optimizer(model, cfg)

    def step(x: torch.Tensor) -> None:
        out = model(x)
        out = out if isinstance(out, torch.Tensor) else out[0]
        out.float().mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step(torch.randn(2, *size))  # loads the kernels and builds the optimiser's state
    x = torch.randn(batch, *size)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets the peak (VmHWM) to the current resident set
    base = _status("VmRSS")
    step(x)
    step(x)
    return {"measured_growth": _status("VmHWM") - base}


def _run(kind: str, **kw) -> dict:
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks'); import bench_memory as b; "
        f"print(json.dumps(b.child_{kind}(**json.loads(sys.argv[1]))))"
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(kw)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{kind} {kw} failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def b7() -> None:
    size = [3, 600, 600]
    meta = _run("summary", name="efficientnet_b7", size=size, batch=64, device=None)
    real = _run("summary", name="efficientnet_b7", size=size, batch=1, device="cpu")
    ratio = meta["activation_bytes"] / (64 * real["activation_bytes"])
    print(f"torch {torch.__version__}")
    print("| pass | batch | seconds | peak RSS | activations saved for backward |")
    print("|---|---|---|---|---|")
    for label, r, b in (("meta tensors (default)", meta, 64), ("real forward on the CPU", real, 1)):
        print(
            f"| {label} | {b} | {r['seconds']:.1f} | {r['peak_rss'] / 1e9:.2f} GB | "
            f"{r['activation_bytes'] / 1e9:.3f} GB |"
        )
    print(
        f"meta batch 64 / (64 × real batch 1) = {ratio:.5f}; MACs equal per sample: "
        f"{meta['macs'] == 64 * real['macs']}"
    )


FIT_CASES = (
    ("mnist_net3", [1, 28, 28], 512, "sgd"),
    ("resnet18", [3, 224, 224], 32, "sgd"),
    ("resnet50", [3, 224, 224], 16, "adamw"),
    ("vit_small_patch16_224", [3, 224, 224], 16, "adamw"),
    ("efficientnet_b0", [3, 224, 224], 32, "adamw"),
)


def fit() -> None:
    print(
        f"torch {torch.__version__}, CPU, 2 threads; growth of peak RSS over the built model, optimiser and batch"
    )
    print("| model | input | batch | optimiser | predicted (MB) | measured (MB) | measured / predicted |")
    print("|---|---|---|---|---|---|---|")
    for name, size, batch, optim in FIT_CASES:
        p = _run("step", name=name, size=size, batch=batch, optim=optim, predict=True)
        m = _run("step", name=name, size=size, batch=batch, optim=optim, predict=False)
        print(
            f"| {name} | {'×'.join(map(str, size))} | {batch} | {optim} | {p['predicted_growth'] / 1e6:,.0f} | "
            f"{m['measured_growth'] / 1e6:,.0f} | {m['measured_growth'] / p['predicted_growth']:.2f} |",
            flush=True,
        )


CUDA_CASES = (
    ("resnet50", [3, 224, 224], 64, "sgd", "fp32"),
    ("resnet50", [3, 224, 224], 64, "sgd", "bf16"),
    ("vit_small_patch16_224", [3, 224, 224], 64, "adamw", "bf16"),
    ("efficientnet_b0", [3, 224, 224], 64, "adamw", "fp32"),
)


def _cuda_step(model, opt, x: torch.Tensor, precision: str) -> None:
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = model(x)
    out.float().mean().backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def cuda() -> None:
    """Whole-step peak: FakeTensorMode prediction against the CUDA allocator's measured peak."""
    from archlab.config import OptimConfig
    from archlab.inspect.fit import step_memory
    from archlab.models import create_model
    from archlab.train.optim import build_optimizer

    dev = torch.device("cuda")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(dev)}")
    print(
        "| model | batch | optimiser | precision | predicted peak (MB) | measured peak (MB) | measured / predicted |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, size, batch, optim, precision in CUDA_CASES:
        cfg = OptimConfig(name=optim, momentum=0.9)
        model = create_model(name)
        predicted = step_memory(model, tuple(size), batch, cfg, precision=precision).peak
        model = model.to(dev).train()
        opt = build_optimizer(model, cfg)
        x = torch.randn(batch, *size, device=dev)

        _cuda_step(model, opt, x, precision)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
        _cuda_step(model, opt, x, precision)
        torch.cuda.synchronize()
        measured = (
            torch.cuda.max_memory_allocated(dev) - x.numel() * x.element_size()
        )  # the input is not in the prediction
        print(
            f"| {name} | {batch} | {optim} | {precision} | {predicted / 1e6:,.0f} | {measured / 1e6:,.0f} | "
            f"{measured / predicted:.2f} |",
            flush=True,
        )
        del model, opt, x
        torch.cuda.empty_cache()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("b7", "fit", "cuda"))
    args = ap.parse_args()
    {"b7": b7, "fit": fit, "cuda": cuda}[args.what]()


if __name__ == "__main__":
    main()
