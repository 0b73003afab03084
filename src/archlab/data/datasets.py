"""Datasets held in memory as uint8 tensors, by name.

Small image datasets (digits, MNIST, FashionMNIST, CIFAR) fit in memory many
times over; holding them as one ``uint8`` tensor and batching by indexing
removes the per-sample Python work of a ``DataLoader`` (the main cost of the
seeds' loops). Each loader returns a :class:`TensorDataset` with the train and
test splits, class names and the per-channel statistics of the train split.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from archlab._registry import Registry

DATASETS = Registry("dataset")


@dataclass
class TensorSplit:
    """Images ``x`` (uint8, N×C×H×W) and integer labels ``y`` (int64, N)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: torch.Tensor) -> TensorSplit:
        return TensorSplit(self.x[index], self.y[index])


@dataclass
class TensorDataset:
    """A dataset: train/test (and optional val) splits plus metadata.

    A split is a :class:`TensorSplit` held in memory (batched by indexing) or any
    ``torch.utils.data.Dataset`` returning ``(image C×H×W in stored units, target)``,
    which the engine streams through a ``DataLoader``. Targets are class indices
    (single-label) or K-long multi-hot vectors (multi-label).
    """

    name: str
    train: TensorSplit | Dataset
    test: TensorSplit | Dataset
    classes: list[str]
    val: TensorSplit | Dataset | None = None
    mean: list[float] = field(default_factory=list)  # per channel, in the units of stored values / scale
    std: list[float] = field(default_factory=list)
    bands: list[str] = field(default_factory=list)  # channel names (e.g. "gray", "R", "B02")
    scale: float = 255.0  # divisor that maps stored integers to the units of mean/std
    task: str = "single_label"  # or "multi_label": y is an N×K multi-hot float tensor
    skipped: list[str] = field(default_factory=list)  # samples dropped by data.on_error=skip, with reasons

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> tuple[int, int, int]:
        if isinstance(self.train, TensorSplit):
            c, h, w = self.train.x.shape[1:]
        else:
            c, h, w = self.train[0][0].shape
        return int(c), int(h), int(w)


def channel_stats(x: torch.Tensor, scale: float) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images ``x`` (N×C×H×W), in [0, 1] units."""
    xf = x.to(torch.float64) / scale
    mean = xf.mean(dim=(0, 2, 3))
    std = xf.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return mean.tolist(), std.tolist()


def carve_split(split: TensorSplit, fraction: float, seed: int, what: str) -> tuple[TensorSplit, TensorSplit]:
    """Split ``split`` into (rest, held-out) with ``fraction`` held out, stratified by class."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"{what} must be a fraction between 0 and 1 (exclusive), got {fraction}")
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(split))
    targets = split.y if isinstance(split, TensorSplit) else getattr(split, "targets", None)
    stratify = None
    if targets is not None and torch.as_tensor(targets).ndim == 1:
        labels = torch.as_tensor(targets).numpy()
        counts = np.bincount(labels)
        n_classes = int((counts > 0).sum())
        n_held = int(np.ceil(fraction * len(idx)))
        # Stratify when every class can appear on both sides; otherwise a plain seeded split.
        if counts[counts > 0].min() >= 2 and min(n_held, len(idx) - n_held) >= n_classes:
            stratify = labels
    keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    keep_t, held_t = torch.from_numpy(np.sort(keep)), torch.from_numpy(np.sort(held))
    if isinstance(split, TensorSplit) or hasattr(split, "subset"):  # a pack's split stays batch-readable
        return split.subset(keep_t), split.subset(held_t)
    return Subset(split, keep_t.tolist()), Subset(split, held_t.tolist())


def register_dataset(name: str) -> Callable:
    """Register ``fn(cfg: DataConfig) -> TensorDataset`` under ``name``."""
    return DATASETS.register(name)


def list_datasets() -> list[str]:
    return DATASETS.names()


def load_dataset(cfg) -> TensorDataset:
    """Load the dataset named by ``cfg.name`` (a :class:`archlab.config.DataConfig`).

    Carves a validation split from train when ``cfg.val_split > 0`` and fills in
    the per-channel statistics of the (final) train split.
    """
    ds = DATASETS.get(cfg.name)(cfg)
    if cfg.val_split > 0:
        if ds.val is not None:
            raise ValueError(f"dataset {cfg.name!r} has its own validation split; set data.val_split=0")
        ds.train, ds.val = carve_split(ds.train, cfg.val_split, cfg.split_seed, "data.val_split")
    if cfg.limit > 0:
        ds.train, ds.test = _head(ds.train, cfg.limit), _head(ds.test, cfg.limit)
        ds.val = _head(ds.val, cfg.limit) if ds.val is not None else None
    channels = len(ds.bands) if ds.bands else None
    for key in ("mean", "std"):
        given = getattr(cfg, key)
        if given is not None:
            if channels is not None and len(given) != channels:
                raise ValueError(
                    f"data.{key} has {len(given)} values but the data has {channels} bands {ds.bands}"
                )
            setattr(ds, key, [float(v) for v in given])
    if not ds.mean:
        if not isinstance(ds.train, TensorSplit):
            raise ValueError(f"dataset {cfg.name!r} streams from disk; give data.mean and data.std per band")
        ds.mean, ds.std = channel_stats(ds.train.x, ds.scale)
    return ds


def _head(split, n: int):
    """The first ``n`` samples of a split (deterministic: splits are stored in a fixed order)."""
    if len(split) <= n:
        return split
    if isinstance(split, TensorSplit) or hasattr(split, "subset"):
        return split.subset(torch.arange(n))
    return Subset(split, list(range(n)))


@register_dataset("digits")
def _digits(cfg) -> TensorDataset:
    """scikit-learn's bundled digits: 1,797 real 8×8 grey images (values 0..16), split with a fixed seed."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    x = torch.from_numpy(images).unsqueeze(1).contiguous()
    y = torch.from_numpy(bunch.target.astype(np.int64))
    train, test = carve_split(TensorSplit(x, y), cfg.test_split, cfg.split_seed, "data.test_split")
    return TensorDataset("digits", train, test, [str(i) for i in range(10)], bands=["gray"])


def _torchvision_split(cls, root: Path, train: bool, download: bool, name: str, files_hint: str):
    try:
        return cls(root=str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise FileNotFoundError(
                f"{name} not found under {root}: put {files_hint} there, or set data.download=true when online"
            ) from None
    # Not on disk: try the network, failing fast when there is none.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        return cls(root=str(root), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - any network error means the same to the user
        raise FileNotFoundError(
            f"{name} not found under {root} and could not be downloaded ({type(exc).__name__}); "
            f"put {files_hint} there and set data.root"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def _as_nchw(data) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(data))
    if t.ndim == 3:
        return t.unsqueeze(1).contiguous()
    return t.permute(0, 3, 1, 2).contiguous()  # N×H×W×C (CIFAR) -> N×C×H×W


def _torchvision_loader(tv_name: str, name: str, files_hint: str, bands: list[str]) -> Callable:
    def load(cfg) -> TensorDataset:
        import torchvision

        cls = getattr(torchvision.datasets, tv_name)
        root = Path(cfg.root).expanduser()
        splits = []
        for train in (True, False):
            ds = _torchvision_split(cls, root, train, cfg.download, name, files_hint)
            x = _as_nchw(ds.data)
            y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
            splits.append(TensorSplit(x, y))
        classes = [str(c) for c in ds.classes]
        return TensorDataset(name, splits[0], splits[1], classes, bands=list(bands))

    return load


register_dataset("mnist")(
    _torchvision_loader(
        "MNIST", "mnist", "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]", ["gray"]
    )
)
register_dataset("fashion_mnist")(
    _torchvision_loader(
        "FashionMNIST", "fashion_mnist", "FashionMNIST/raw/{train,t10k}-*-ubyte[.gz]", ["gray"]
    )
)
register_dataset("cifar10")(
    _torchvision_loader("CIFAR10", "cifar10", "cifar-10-batches-py/", ["R", "G", "B"])
)
register_dataset("cifar100")(
    _torchvision_loader("CIFAR100", "cifar100", "cifar-100-python/", ["R", "G", "B"])
)
