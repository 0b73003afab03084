"""Input images for ``archlab explain``: read files, match the model's bands and size, build RGB composites.

Files are read in two unit systems. 8-bit image files (PNG, JPEG, BMP, WebP) are read as
``value / 255`` in model units, as a dataset stored in bytes (``scale`` 255) is. Arrays
(``.npy``) and GeoTIFFs (``.tif``, read with ``tifffile``) hold the dataset's stored
units and are divided by the checkpoint's ``scale``. Either way the checkpoint's
per-band ``mean``/``std`` normalise them, exactly as the training batches were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")
ARRAY_SUFFIXES = (".npy",)
TIFF_SUFFIXES = (".tif", ".tiff")
DEFAULT_RGB = ("B04", "B03", "B02")  # Sentinel-2 red, green, blue


@dataclass
class LoadedImage:
    """One input: ``raw`` C×H×W float in model units before normalisation, and how it was read."""

    path: Path
    raw: torch.Tensor
    eight_bit: bool


def _to_chw(arr: np.ndarray, channels: int, path: Path) -> np.ndarray:
    """An array as C×H×W: 2-D is one band; 3-D is C×H×W or H×W×C, whichever matches ``channels``."""
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(
            f"{path.name} has shape {tuple(arr.shape)}; expected H×W, C×H×W or H×W×C with C={channels}"
        )
    if arr.shape[0] == channels:
        return arr
    if arr.shape[-1] == channels:
        return np.moveaxis(arr, -1, 0)
    raise ValueError(
        f"{path.name} has shape {tuple(arr.shape)} but the model takes {channels} bands; "
        f"pass a C×H×W or H×W×C array with C={channels}"
    )


def read_image(path: str | Path, channels: int, scale: float) -> LoadedImage:
    """Read one file as ``channels`` bands in model units (before mean/std normalisation)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {str(path)!r} not found; pass PNG/JPEG, .npy or GeoTIFF files")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        from PIL import Image

        if channels not in (1, 3):
            raise ValueError(
                f"{path.name} is an 8-bit image (1 or 3 bands) but the model takes {channels} bands; "
                "pass a .npy array or a GeoTIFF with every band"
            )
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32)
        return LoadedImage(path, torch.from_numpy(_to_chw(arr, channels, path) / 255.0), True)
    if suffix in ARRAY_SUFFIXES:
        arr = np.load(path, allow_pickle=False)
    elif suffix in TIFF_SUFFIXES:
        try:
            import tifffile
        except ImportError:
            raise ValueError(
                f"reading {path.name} needs the tifffile package; pip install tifffile, or save the bands as .npy"
            ) from None
        arr = tifffile.imread(path)
    else:
        raise ValueError(
            f"cannot read {path.name}: unknown suffix {suffix!r}; pass "
            f"{', '.join(IMAGE_SUFFIXES + ARRAY_SUFFIXES + TIFF_SUFFIXES)}"
        )
    chw = _to_chw(np.asarray(arr, dtype=np.float32), channels, path)
    return LoadedImage(path, torch.from_numpy(np.ascontiguousarray(chw)) / float(scale), False)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """C×H×W bilinearly resized to ``size`` (antialiased when shrinking); unchanged when it fits."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = x.shape[-2] > size[0] or x.shape[-1] > size[1]
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=shrink)[0]


def normalise(x: torch.Tensor, meta: dict[str, Any], enabled: bool = True) -> torch.Tensor:
    """``(x - mean) / std`` per band with the checkpoint's statistics (as training did)."""
    mean, std = meta.get("mean"), meta.get("std")
    if not enabled or mean is None or std is None:
        return x
    m = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (x - m) / s


def rgb_indices(bands: list[str], channels: int, chosen: list[str] | None = None) -> list[int]:
    """Band indices of the RGB composite: ``chosen`` names, else B04/B03/B02 when present, else the first three."""
    names = (
        [str(b) for b in bands]
        if bands and len(bands) == channels
        else [f"band{i + 1}" for i in range(channels)]
    )
    if chosen:
        if len(chosen) != 3:
            raise ValueError(
                f"an RGB composite takes 3 band names, got {len(chosen)}: {chosen}; e.g. --bands B04 B03 B02"
            )
        missing = [b for b in chosen if b not in names]
        if missing:
            raise ValueError(f"band(s) {missing} not in this model's bands {names}; choose three of those")
        return [names.index(b) for b in chosen]
    if all(b in names for b in DEFAULT_RGB):
        return [names.index(b) for b in DEFAULT_RGB]
    if channels >= 3:
        return [0, 1, 2]
    return [0, 0, 0]


def stretch(band: np.ndarray, low: float = 2.0, high: float = 98.0) -> np.ndarray:
    """Percentile stretch of one band to [0, 1]: the ``low``-th percentile to 0, the ``high``-th to 1."""
    lo, hi = np.percentile(band, [low, high])
    if hi <= lo:
        hi = lo + 1e-12
    return np.clip((band - lo) / (hi - lo), 0.0, 1.0)


def display_rgb(img: LoadedImage, bands: list[str], chosen: list[str] | None = None) -> np.ndarray:
    """H×W×3 float in [0, 1] for display: 8-bit files as they are, arrays as a percentile-stretched composite."""
    x = img.raw.numpy()
    idx = rgb_indices(bands, x.shape[0], chosen)
    if img.eight_bit:
        return np.clip(np.stack([x[i] for i in idx], axis=-1), 0.0, 1.0)
    return np.stack([stretch(x[i]) for i in idx], axis=-1)
