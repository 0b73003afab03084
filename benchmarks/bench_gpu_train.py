"""Training throughput, model FLOP utilisation and peak memory: fp32 vs bf16 × eager vs compiled.

    python benchmarks/bench_gpu_train.py                       # on the GPU (make gpu-check runs it)
    python benchmarks/bench_gpu_train.py --device cpu --models mnist_net3 --batch 64 --steps 3   # a dry run

For each model and setting, ``archlab.bench.bench_model`` times warm-up and then training
steps (forward, cross-entropy, backward, SGD step; compile time is in the warm-up). Model FLOP
utilisation is the achieved training FLOP/s over the device's dense bf16 peak: a training
step is counted as 3 × the forward's FLOPs (the backward computes two products per forward
product), with the forward's MACs from archlab's own count (``archlab summary``, meta pass).
The peak is looked up by the GPU's name in :data:`PEAK_BF16_TFLOPS` (vendor datasheets, dense,
no sparsity); an unknown device prints no utilisation.
"""

from __future__ import annotations

import argparse

import torch

MODELS = ("multispectral_v9", "wrn_b4_eca", "resnet50", "vit_small_patch16_224")
PEAK_BF16_TFLOPS = {  # dense bf16 tensor-core peaks, datasheet figures
    "H200": 989.4,
    "H100 SXM": 989.4,
    "H100 PCIe": 756.0,
    "H100": 989.4,
    "A100": 312.0,
    "L4": 121.0,
    "RTX 3050": 35.6,  # seed 000's laptop GPU class (GA107, boost clock): approximate
}


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()

    from archlab.bench.bench import bench_model
    from archlab.inspect.summary import summarize
    from archlab.models import create_model, model_info

    device = torch.device(args.device)
    peak = peak_tflops(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"torch {torch.__version__}, {where}, batch {args.batch}, dense bf16 peak: {peak or 'unknown'} TFLOP/s"
    )
    print("| model | precision | mode | images/s | peak memory (MiB) | model FLOP utilisation |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        size = tuple(model_info(name)["input_size"])
        macs = summarize(create_model(name), size, batch_size=2).macs / 2  # per image, meta pass
        for amp in ("none", "bf16"):
            for compiled in (False, True):
                try:
                    rows = bench_model(
                        name,
                        batch_sizes=[args.batch],
                        mode="train",
                        amp=amp,
                        compile=compiled,
                        device=device,
                        warmup=args.warmup,
                        steps=args.steps,
                        channels_last=len(size) == 3,
                    )
                except Exception as exc:  # a setting that fails is a finding: report it, go on
                    print(
                        f"| {name} | {amp} | {'compiled' if compiled else 'eager'} | failed: {str(exc).splitlines()[0][:120]} | | |"
                    )
                    continue
                r = rows[0]
                mfu = 3 * 2 * macs * r.images_per_s / (peak * 1e12) if peak else None
                print(
                    f"| {name} | {'fp32' if amp == 'none' else amp} | {'compiled' if compiled else 'eager'} | "
                    f"{r.images_per_s:,.0f} (batch {r.batch}) | {r.peak_mem_mib or 0:,.0f} | "
                    f"{f'{100 * mfu:.1f} %' if mfu is not None else '—'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
