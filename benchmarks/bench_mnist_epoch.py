"""Time an MNIST epoch of seed 001's Model 3 three ways, side by side in one run.

1. the seed's own loop: torchvision ``MNIST`` + ``DataLoader`` (batch 64, per-sample
   ``RandomRotation``/``ToTensor``/``Normalize``), ``log_softmax`` + ``nll_loss``, a tqdm bar
   updated every batch, as in seed 001;
2. PyTorch Lightning's ``Trainer`` on the same model, the same DataLoader and the same optimiser;
3. archlab (``archlab.train``) with the seed's hyperparameters (batch 64, SGD 0.01 / 0.9, rotation),
   with the in-memory loader and batch augmentation (row ``archlab_same``);
4. archlab with its own recipe, ``configs/mnist/net3.yaml`` (batch 128, OneCycle, channels_last).

All three train ``--epochs`` epochs from the same initial weights seed and report the seconds per
epoch and the test accuracy after the last epoch. Usage:

    python benchmarks/bench_mnist_epoch.py --root ../shared/datasets --epochs 2 [--skip lightning]
"""

from __future__ import annotations

import argparse
import json
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
    return {
        "epoch_s": [r["train"]["time_s"] for r in result.history],
        "test_acc": result.results["final_test_acc"],
    }


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="../shared/datasets")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--skip", nargs="*", default=[], choices=["seed", "lightning", "archlab_same", "archlab"])
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: every loop trains there")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    runners = {
        "seed": run_seed_loop,
        "lightning": run_lightning,
        "archlab_same": run_archlab_same,
        "archlab": run_archlab,
    }
    results = {}
    for name, fn in runners.items():
        if name not in args.skip:
            results[name] = fn(args.root, args.epochs)
    base = results.get("seed")
    print(
        f"\nMNIST, seed 001 Model 3, batch {BATCH}, SGD lr {LR} momentum {MOMENTUM}, rotation ±{ROTATION}°, "
        f"{args.epochs} epochs; torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}"
    )
    print("| loop | s / epoch (each) | mean s / epoch | speed-up vs seed loop | test acc after last epoch |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        mean = sum(r["epoch_s"]) / len(r["epoch_s"])
        speed = f"{sum(base['epoch_s']) / len(base['epoch_s']) / mean:.1f}×" if base else "-"
        each = ", ".join(f"{t:.1f}" for t in r["epoch_s"])
        print(f"| {name} | {each} | {mean:.1f} | {speed} | {100 * r['test_acc']:.2f} % |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
