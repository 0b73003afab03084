"""Plug any torch ``Dataset`` (tuples or torchgeo-style dicts) into archlab as a :class:`TensorDataset`.

A sample may be ``(image, target, ...)`` (torchvision style) or a mapping with keys
``image`` and ``label`` (torchgeo style). Images become ``C×H×W`` tensors (a 2-D image
gets one channel; numpy arrays are converted) in the units the caller states with
``scale``; targets become an int64 class index (single-label) or a float32 multi-hot
vector of length K (multi-label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from archlab.data.datasets import TensorDataset, TensorSplit

TASKS = ("auto", "single_label", "multi_label")


class SampleAdapter(Dataset):
    """Wrap a dataset so that item ``i`` is ``(image C×H×W tensor, target)`` with the target checked."""

    def __init__(self, dataset: Dataset, num_classes: int, task: str) -> None:
        if task not in ("single_label", "multi_label"):
            raise ValueError(f"task must be 'single_label' or 'multi_label', got {task!r}")
        self.dataset = dataset
        self.num_classes = int(num_classes)
        self.task = task

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, target = unpack(self.dataset[index], index)
        return as_image(image, index), as_target(target, self.num_classes, self.task, index)


def unpack(sample: Any, index: int) -> tuple[Any, Any]:
    """``(image, target)`` of a tuple/list sample or a torchgeo-style ``{"image": ..., "label": ...}``."""
    if isinstance(sample, Mapping):
        missing = [k for k in ("image", "label") if k not in sample]
        if missing:
            raise ValueError(
                f"sample {index} is a dict without key(s) {', '.join(missing)} (keys: {', '.join(map(str, sample))}); "
                "expected torchgeo's {'image': C×H×W, 'label': target}"
            )
        return sample["image"], sample["label"]
    if isinstance(sample, (tuple, list)) and len(sample) >= 2:
        return sample[0], sample[1]
    raise ValueError(
        f"sample {index} is a {type(sample).__name__}; expected (image, target) or {{'image': ..., 'label': ...}}"
    )


def as_image(image: Any, index: int) -> torch.Tensor:
    """A ``C×H×W`` tensor from a tensor or array (``H×W`` gets a channel axis)."""
    t = image if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim != 3:
        raise ValueError(f"sample {index}: image has shape {tuple(t.shape)}, expected C×H×W (or H×W)")
    return t


def as_target(target: Any, num_classes: int, task: str, index: int) -> torch.Tensor:
    """A checked int64 class index (single-label) or float32 multi-hot vector (multi-label)."""
    t = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target)
    if task == "single_label":
        if t.numel() != 1 or t.is_floating_point():
            raise ValueError(
                f"sample {index}: single-label target must be one integer, got {tuple(t.shape)} {t.dtype}"
            )
        k = int(t.reshape(()))
        if not 0 <= k < num_classes:
            raise ValueError(f"sample {index}: class index {k} outside 0..{num_classes - 1}")
        return torch.tensor(k, dtype=torch.int64)
    t = t.reshape(-1)
    if t.numel() != num_classes:
        raise ValueError(f"sample {index}: multi-hot target has {t.numel()} entries, expected {num_classes}")
    t = t.to(torch.float32)
    if not bool(((t == 0) | (t == 1)).all()):
        raise ValueError(f"sample {index}: multi-hot target must hold only 0 and 1, got {t.tolist()}")
    return t


def infer_task(dataset: Dataset, num_classes: int) -> str:
    """``multi_label`` when the first sample's target is a K-long vector (K > 1), else ``single_label``."""
    _, target = unpack(dataset[0], 0)
    t = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target)
    return "multi_label" if t.numel() == num_classes and num_classes > 1 and t.ndim >= 1 else "single_label"


def band_statistics(split: Dataset, scale: float) -> tuple[list[float], list[float]]:
    """Per-channel population mean and std of ``image / scale`` over every pixel of ``split`` (one pass)."""
    total = sq = None
    count = 0
    for i in range(len(split)):
        x = split[i][0].to(torch.float64) / scale
        s, q = x.sum(dim=(1, 2)), (x * x).sum(dim=(1, 2))
        total, sq = (s, q) if total is None else (total + s, sq + q)
        count += x.shape[1] * x.shape[2]
    if total is None:
        raise ValueError("the training split is empty")
    mean = total / count
    std = (sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    return mean.tolist(), std.tolist()


def materialize(split: SampleAdapter) -> TensorSplit:
    """Decode every sample of ``split`` into one in-memory :class:`TensorSplit`."""
    items = [split[i] for i in range(len(split))]
    return TensorSplit(torch.stack([x for x, _ in items]), torch.stack([y for _, y in items]))


def from_torch_dataset(
    train: Dataset,
    test: Dataset,
    classes: Sequence[str],
    *,
    val: Dataset | None = None,
    bands: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    task: str = "auto",
    scale: float = 1.0,
    in_memory: bool = False,
    name: str = "torch",
) -> TensorDataset:
    """A :class:`TensorDataset` from torch datasets returning ``(image, target)`` or ``{"image", "label"}``.

    ``task``: ``auto`` (from the first training target), ``single_label`` or ``multi_label``.
    ``mean``/``std``: per channel in the units of ``image / scale``; computed over the training
    split (one pass) when not given. ``in_memory`` decodes every split now into tensors.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if len(train) == 0:
        raise ValueError("the training dataset is empty")
    classes = [str(c) for c in classes]
    if task == "auto":
        task = infer_task(train, len(classes))
    splits = {k: SampleAdapter(d, len(classes), task) for k, d in (("train", train), ("val", val), ("test", test))
              if d is not None}  # fmt: skip
    channels = splits["train"][0][0].shape[0]
    if bands is None:
        bands = [f"band{i + 1}" for i in range(channels)]
    if len(bands) != channels:
        raise ValueError(f"bands lists {len(bands)} names but the images have {channels} channels")
    if (mean is None) != (std is None):
        raise ValueError(
            "give both mean and std, or neither (then they are computed from the training split)"
        )
    if mean is None:
        mean, std = band_statistics(splits["train"], scale)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"mean/std have {len(mean)}/{len(std)} values but the images have {channels} channels"
        )
    if in_memory:
        splits = {k: materialize(s) for k, s in splits.items()}
    return TensorDataset(
        name,
        splits["train"],
        splits["test"],
        classes,
        val=splits.get("val"),
        mean=[float(v) for v in mean],
        std=[float(v) for v in std],
        bands=list(bands),
        scale=float(scale),
        task=task,
    )
