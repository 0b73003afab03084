"""Time an MNIST epoch of seed 001's Model 3 three ways, side by side in one run.

1. the seed's own loop: torchvision ``MNIST`` + ``DataLoader`` (batch 64, per-sample
   ``RandomRotation``/``ToTensor``/``Normalize``), ``log_softmax`` + ``nll_loss``, a tqdm bar
   updated every batch, as in seed 001;
2. PyTorch Lightning's ``Trainer`` on the same model, the same DataLoader and the same optimiser;
3. archlab (``archlab.train``) with the seed's hyperparameters (batch 64, SGD 0.01 / 0.9, rotation),
   with the in-memory loader and batch augmentation (row ``archlab_same``);
4. archlab with its own recipe, ``configs/mnist/net3.yaml`` (batch 128, OneCycle, channels_last);
5. a bare loop over the same recipe: MNIST as one normalised float tensor in memory, batches by
   indexing a random permutation, no augmentation, no metrics, no progress bar (row ``bare``),
   and archlab doing the same work (its recipe without the rotation, row ``archlab_plain``);
6. archlab's recipe with the whole step compiled (``train.compile=true``; the compilation time is
   part of epoch 1 and shown beside it) and with bf16 autocast (``train.amp=bf16``).

All of them train ``--epochs`` epochs from the same initial weights seed and report the seconds per
epoch and the test accuracy after the last epoch. Usage:

    python benchmarks/bench_mnist_epoch.py --root ../shared/datasets --epochs 2 [--skip lightning]

The CPU-step comparison of issue 16 is ``--skip seed lightning archlab_same``: archlab's epoch
against the bare loop, and compiled or bf16 against eager fp32, with the CPU's flags printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import torch
import torch.nn.functional as F

ROTATION = 7.0
LR = 0.01
MOMENTUM = 0.9
BATCH = 64
MEAN, STD = (0.1307,), (0.3081,)


def seed_loaders(root: str):
    from torchvision import datasets, transforms

    train_tf = transforms.Compose(
        [
            transforms.RandomRotation((-ROTATION, ROTATION), fill=0),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )
    test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    train = datasets.MNIST(root, train=True, download=False, transform=train_tf)
    test = datasets.MNIST(root, train=False, download=False, transform=test_tf)
    kw = {"batch_size": BATCH, "num_workers": 0}
    return (
        torch.utils.data.DataLoader(train, shuffle=True, **kw),
        torch.utils.data.DataLoader(test, shuffle=False, **kw),
    )


def seed_model():
    from archlab.models import create_model

    torch.manual_seed(1)
    return create_model("mnist_net3", log_softmax=True)


DEVICE = torch.device("cpu")  # --device: the seed's loop moves each batch there, as its CUDA version does


def test_accuracy(model, loader) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(DEVICE), y.to(DEVICE)
            correct += (model(x).argmax(1) == y).sum().item()
    return correct / len(loader.dataset)


def run_seed_loop(root: str, epochs: int) -> dict:
    """Seed 001's train/test functions, reproduced: per-batch tqdm description, nll_loss."""
    from tqdm import tqdm

    train_loader, test_loader = seed_loaders(root)
    model = seed_model().to(DEVICE)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    times = []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        pbar = tqdm(train_loader, mininterval=1.0)
        correct = processed = 0
        for batch_idx, (data, target) in enumerate(pbar):
            data, target = data.to(DEVICE), target.to(DEVICE)
            opt.zero_grad()
            y_pred = model(data)
            loss = F.nll_loss(y_pred, target)
            loss.backward()
            opt.step()
            pred = y_pred.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
            processed += len(data)
            pbar.set_description(
                f"Loss={loss.item()} Batch_id={batch_idx} Accuracy={100 * correct / processed:0.2f}"
            )
        times.append(time.perf_counter() - t0)
    return {"epoch_s": times, "test_acc": test_accuracy(model, test_loader)}


def run_lightning(root: str, epochs: int) -> dict:
    import lightning as L

    train_loader, test_loader = seed_loaders(root)
    model = seed_model()

    class Module(L.LightningModule):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def training_step(self, batch, _):
            x, y = batch
            out = self.net(x)
            loss = F.nll_loss(out, y)
            self.log("acc", (out.argmax(1) == y).float().mean(), prog_bar=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=LR, momentum=MOMENTUM)

    times = []

    class Timer(L.Callback):
        def on_train_epoch_start(self, *_):
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, *_):
            times.append(time.perf_counter() - self.t0)

    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="gpu" if DEVICE.type == "cuda" else "cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        callbacks=[Timer()],
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Module(model), train_loader)
    model.to(DEVICE)
    return {"epoch_s": times, "test_acc": test_accuracy(model, test_loader)}


def _archlab(root: str, epochs: int, extra: list[str]) -> dict:
    import archlab

    with tempfile.TemporaryDirectory() as out:
        result = archlab.train(
            "configs/mnist/net3.yaml",
            overrides=[
                f"data.root={root}",
                f"train.epochs={epochs}",
                f"run.out_dir={out}",
                "run.summary=false",
                "run.report=false",
                "run.seed=1",
                f"run.device={DEVICE}",
                *extra,
            ],
            echo=lambda s: None,
        )
    out = {
        "epoch_s": [r["train"]["time_s"] for r in result.history],
        "test_acc": result.results["final_test_acc"],
    }
    if "compile_s" in result.history[0]["train"]:
        out["compile_s"] = [r["train"]["compile_s"] for r in result.history]
    return out


def run_archlab_same(root: str, epochs: int) -> dict:
    """archlab with the seed's hyperparameters: batch 64, SGD 0.01 / 0.9, no schedule, rotation ±7°."""
    return _archlab(
        root,
        epochs,
        [
            f"data.batch_size={BATCH}",
            f"optim.lr={LR}",
            f"optim.momentum={MOMENTUM}",
            "optim.nesterov=false",
            "sched.name=none",
            f"data.augment.rotation={ROTATION}",
        ],
    )


def run_archlab(root: str, epochs: int) -> dict:
    """archlab with its own recipe, configs/mnist/net3.yaml (batch 128, OneCycle, channels_last)."""
    return _archlab(root, epochs, [])


def run_archlab_plain(root: str, epochs: int) -> dict:
    """archlab's recipe without augmentation: the same work per step as the bare loop."""
    return _archlab(root, epochs, ["data.augment.rotation=0"])


def run_archlab_compiled(root: str, epochs: int) -> dict:
    """archlab's recipe with forward, backward and optimiser step compiled (inductor)."""
    return _archlab(root, epochs, ["train.compile=true"])


def run_archlab_bf16(root: str, epochs: int) -> dict:
    """archlab's recipe under bf16 autocast (emulated on a CPU without AVX512-BF16 or AMX)."""
    return _archlab(root, epochs, ["train.amp=bf16"])


def run_bare(root: str, epochs: int) -> dict:
    """archlab's recipe as the barest loop: in-memory normalised tensors, no augmentation or metrics."""
    from torchvision import datasets

    from archlab.models import create_model

    def tensors(train: bool):
        ds = datasets.MNIST(root, train=train, download=False)
        x = ((ds.data.float() / 255 - MEAN[0]) / STD[0]).unsqueeze(1)
        return x.contiguous(memory_format=torch.channels_last).to(DEVICE), ds.targets.to(DEVICE)

    (x, y), (xt, yt) = tensors(True), tensors(False)
    torch.manual_seed(1)
    model = create_model("mnist_net3").to(DEVICE, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    steps = -(-len(x) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.05, total_steps=epochs * steps, pct_start=0.2, cycle_momentum=False
    )
    times = []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for idx in torch.randperm(len(x), device=DEVICE).split(128):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        correct = sum((model(a).argmax(1) == b).sum().item() for a, b in zip(xt.split(2000), yt.split(2000)))
    return {"epoch_s": times, "test_acc": correct / len(xt)}


def steal_seconds() -> float:
    """CPU time the hypervisor took from this VM so far, all cores (Linux ``/proc/stat``; 0 elsewhere).

    Printed per loop: a loop that ran while the host took cores away is slower for that reason.
    """
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_flags() -> str:
    """The CPU features that decide compiled and bf16 speed: vector ISA, native bf16."""
    from archlab.train.precision import cpu_bf16_flags

    bf16 = cpu_bf16_flags()
    return (
        f"{platform.processor() or platform.machine()}, torch vector ISA "
        f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {', '.join(bf16) if bf16 else 'none'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="../shared/datasets")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--skip", nargs="*", default=[], choices=list(RUNNERS))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: every loop trains there")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    results = {}
    for name, fn in RUNNERS.items():
        if name not in args.skip:
            before = steal_seconds()
            results[name] = fn(args.root, args.epochs)
            results[name]["steal_s"] = steal_seconds() - before
    print(
        f"\nMNIST, seed 001 Model 3, {args.epochs} epochs; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {DEVICE}; {cpu_flags()}"
    )
    print(
        "| loop | s / epoch (each) | of which compiling | s / epoch, last | vs seed loop | vs bare loop "
        "| vs archlab eager | test acc after last epoch | CPU stolen by the host (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        last = r["epoch_s"][-1]
        ratios = [
            f"{results[b]['epoch_s'][-1] / last:.2f}×" if b in results else "-"
            for b in ("seed", "bare", "archlab")
        ]
        each = ", ".join(f"{t:.1f}" for t in r["epoch_s"])
        compiling = ", ".join(f"{t:.1f}" for t in r.get("compile_s", [])) or "-"
        print(
            f"| {name} | {each} | {compiling} | {last:.1f} | {' | '.join(ratios)} | {100 * r['test_acc']:.2f} % | {r['steal_s']:.1f} |"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


RUNNERS = {
    "seed": run_seed_loop,
    "lightning": run_lightning,
    "archlab_same": run_archlab_same,
    "bare": run_bare,
    "archlab": run_archlab,
    "archlab_plain": run_archlab_plain,
    "archlab_compiled": run_archlab_compiled,
    "archlab_bf16": run_archlab_bf16,
}

if __name__ == "__main__":
    main()
