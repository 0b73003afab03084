"""A model's input format, as one small frozen type: what it reads and what its outputs mean.

:class:`InputSpec` is built once from the training data, stored once in every checkpoint
(``checkpoint["input"]``), and read back by everything that feeds a trained model:
training's batch transform, ``archlab predict``, ``explain``, ``export`` and ``bench``.
The model's input is ``((x / scale) - mean) / std`` per band, with ``x`` in the dataset's
stored units (8-bit images 0–255, Sentinel-2 reflectances as stored); with
``normalize=False`` only ``x / scale``. :func:`normalize` is that formula's one home.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

TASKS = ("single_label", "multi_label")


def normalize(
    x: torch.Tensor, mean: torch.Tensor | None, std: torch.Tensor | None, scale: float
) -> torch.Tensor:
    """Stored units (any dtype, N×C×H×W or C×H×W) -> float32 ``(x / scale - mean) / std``.

    ``mean``/``std`` are per-band tensors (shape C), or ``None`` for ``x / scale`` only.
    Its two steps are :func:`rescale` and :func:`standardize`; training's batch transform
    augments between them (geometry on ``x / scale``, cutout and mixing after).
    """
    x = rescale(x, scale)
    if mean is None or std is None:
        return x
    return standardize(x, mean, std)


def rescale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """The first step of :func:`normalize`: float32 ``x / scale`` (a new tensor; ``x`` is untouched)."""
    return x.to(torch.float32) / float(scale)


def standardize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The second step of :func:`normalize`: ``(x - mean) / std`` per band of a float32 C×H×W or N×C×H×W ``x``."""
    shape = (-1, 1, 1) if x.dim() == 3 else (1, -1, 1, 1)
    mean = mean.to(device=x.device, dtype=torch.float32).view(shape)
    std = std.to(device=x.device, dtype=torch.float32).view(shape)
    return (x - mean) / std


@dataclass(frozen=True)
class InputSpec:
    """Bands, normalisation, input size, class names in output order, and the task of a model."""

    input_size: tuple[int, int, int]  # C, H, W
    classes: tuple[str, ...]
    bands: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    scale: float = 255.0
    normalize: bool = True
    task: str = "single_label"

    def __post_init__(self) -> None:
        c = int(self.input_size[0]) if len(self.input_size) == 3 else -1
        if c < 1 or len(self.input_size) != 3:
            raise ValueError(f"input_size must be (C, H, W) with C >= 1, got {tuple(self.input_size)}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not self.classes:
            raise ValueError("an input specification needs the class names in output order")
        if self.bands and len(self.bands) != c:
            raise ValueError(f"{len(self.bands)} band names for {c} input channels; give one name per band")
        if len(self.mean) != len(self.std) or (self.mean and len(self.mean) != c):
            raise ValueError(
                f"{len(self.mean)} means and {len(self.std)} stds for {c} bands; give one of each per band"
            )
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if any(not s > 0 for s in self.std):
            raise ValueError(f"every std must be positive, got {list(self.std)}")

    # ---- derived ----------------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return int(self.input_size[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def band_names(self) -> list[str]:
        """The bands' names, or ``band1``… when the data named none."""
        return list(self.bands) or [f"band{i + 1}" for i in range(self.channels)]

    @property
    def normalized(self) -> bool:
        """Whether ``preprocess`` subtracts the mean and divides by the std."""
        return self.normalize and bool(self.mean)

    def band_list(self, limit: int = 13) -> str:
        names = self.band_names[:limit] + (["..."] if self.channels > limit else [])
        return ", ".join(names)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Stored units (N×C×H×W or C×H×W, any dtype) -> the float32 model input."""
        if not self.normalized:
            return normalize(x, None, None, self.scale)
        return normalize(x, torch.tensor(self.mean), torch.tensor(self.std), self.scale)

    # ---- storage ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able values (lists, not tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputSpec:
        """The inverse of :meth:`to_dict`; unknown keys are ignored."""
        return cls(
            input_size=tuple(int(v) for v in data["input_size"]),
            classes=tuple(str(c) for c in data["classes"]),
            bands=tuple(str(b) for b in data.get("bands") or ()),
            mean=tuple(float(v) for v in data.get("mean") or ()),
            std=tuple(float(v) for v in data.get("std") or ()),
            scale=float(data.get("scale", 255.0)),
            normalize=bool(data.get("normalize", True)),
            task=str(data.get("task", "single_label")),
        )

    @classmethod
    def from_checkpoint(cls, ckpt: Mapping[str, Any]) -> InputSpec:
        """The spec of a checkpoint: its ``input`` entry, or the flat keys older checkpoints stored."""
        if isinstance(ckpt.get("input"), Mapping):
            return cls.from_dict(ckpt["input"])
        missing = [k for k in ("classes", "input_size") if k not in ckpt]
        if missing:
            raise ValueError(
                f"the checkpoint lacks {', '.join(missing)}; it was not written by archlab train"
            )
        data = dict(ckpt)
        data["normalize"] = bool(((ckpt.get("config") or {}).get("data") or {}).get("normalize", True))
        return cls.from_dict(data)

    @classmethod
    def of_dataset(cls, data: Any, normalize: bool = True) -> InputSpec:
        """The spec of a loaded :class:`archlab.data.datasets.TensorDataset`."""
        return cls(
            input_size=tuple(int(v) for v in data.input_size),
            classes=tuple(str(c) for c in data.classes),
            bands=tuple(str(b) for b in data.bands),
            mean=tuple(float(v) for v in data.mean),
            std=tuple(float(v) for v in data.std),
            scale=float(data.scale),
            normalize=bool(normalize),
            task=str(data.task),
        )

    def with_size(self, size: Sequence[int]) -> InputSpec:
        """The same spec at another height and width (e.g. after a resolution change)."""
        from dataclasses import replace

        h, w = (int(v) for v in size)
        return replace(self, input_size=(self.channels, h, w))
