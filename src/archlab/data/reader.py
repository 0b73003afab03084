"""Input files for a trained model: images, ``.npy`` arrays and GeoTIFFs, read against its :class:`InputSpec`.

``archlab predict`` and ``archlab explain`` read every file here. Values come back as
float32 C×H×W tensors in the dataset's **stored units** (8-bit images 0–255, reflectances
as saved); :meth:`InputSpec.preprocess` turns them into the model's input.

Rules, checked per input, each failing with a one-line ``ValueError`` naming the file:

* Bands. An array (``.npy``, GeoTIFF) must have the model's band count on its first
  axis (C×H×W) or its last (H×W×C); the first wins when both match; a 2-D array is one
  band. A PNG/JPEG is grey (1 band) or colour (3, alpha dropped); it is converted to the
  other only with ``convert=True`` (``--convert``). A 4-D ``.npy`` is a batch.
* Size. Height and width must equal the trained input size, unless ``allow_resize=True``
  (``--allow-resize``) resizes bilinearly (antialiased when shrinking). Fully convolutional
  models with global pooling would run at other sizes, but their accuracy there is
  unmeasured, so a different size is an explicit choice.
* Values. NaN or infinite values are refused (the model would answer NaN probabilities).

GeoTIFFs are decoded by :func:`archlab.data.geotiff.read_geotiff`, the reader of the
raster datasets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from archlab.data.inputspec import InputSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
ARRAY_SUFFIXES = (".npy",)
TIFF_SUFFIXES = (".tif", ".tiff")
SUFFIXES = IMAGE_SUFFIXES + ARRAY_SUFFIXES + TIFF_SUFFIXES
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")  # Pillow modes of more than 8 bits per value


@dataclass(frozen=True)
class Input:
    """One input as read: ``x`` C×H×W float32 in stored units at the file's own size."""

    label: str  # the path, or ``path[i]`` for item i of a 4-D .npy batch
    path: Path
    x: torch.Tensor
    index: int | None = None  # i for item i of a 4-D .npy batch
    eight_bit: bool = False  # read from an 8-bit image file (0–255)


def collect_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files named and the supported files under folders named (recursively, sorted), in order."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            inside = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
            if not inside:
                raise ValueError(
                    f"folder {str(p)!r} holds no inputs; expected files ending in {', '.join(SUFFIXES)}"
                )
            found += inside
        elif p.is_file():
            _check_suffix(p)
            found.append(p)
        else:
            raise FileNotFoundError(
                f"input {str(p)!r} not found; pass image files, folders, .npy or .tif files"
            )
    if not found:
        raise ValueError("no inputs given; pass image files, folders, .npy arrays or GeoTIFFs")
    return found


def read_inputs(path: str | Path, spec: InputSpec, convert: bool = False) -> list[Input]:
    """The inputs of one file at its own size: one, or one per item of a 4-D ``.npy`` batch."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input {str(path)!r} not found; pass image files, .npy or .tif files")
    _check_suffix(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        arr, eight_bit = _read_image(path, spec, convert)
        return [Input(str(path), path, torch.from_numpy(arr), eight_bit=eight_bit)]
    arr = _read_array(path)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"input {path} holds {arr.dtype} values; expected a numeric array")
    check_finite(arr, path)
    c = spec.channels
    if arr.ndim == 4 and path.suffix.lower() in ARRAY_SUFFIXES:
        if not len(arr):
            raise ValueError(
                f"input {path} is an empty batch (shape {tuple(arr.shape)}); save at least one item"
            )
        labels = [f"{path}[{i}]" for i in range(len(arr))]
        return [
            Input(lab, path, _tensor(to_chw(a, c, lab, spec)), i)
            for i, (lab, a) in enumerate(zip(labels, arr))
        ]
    return [Input(str(path), path, _tensor(to_chw(arr, c, str(path), spec)))]


def read_input(
    path: str | Path, spec: InputSpec, convert: bool = False, allow_resize: bool = False
) -> torch.Tensor:
    """One file as a C×H×W float32 tensor in stored units at the model's size (N×C×H×W for a batch ``.npy``)."""
    items = read_inputs(path, spec, convert)
    xs = [fit_size(i.x, i.label, spec, allow_resize) for i in items]
    return xs[0] if items[0].index is None else torch.stack(xs)


def fit_size(x: torch.Tensor, label: str, spec: InputSpec, allow_resize: bool) -> torch.Tensor:
    """``x`` (C×H×W) at the model's H×W: unchanged, resized bilinearly if allowed, or a ValueError."""
    _, h, w = spec.input_size
    if tuple(x.shape[1:]) == (h, w):
        return x
    if not allow_resize:
        raise ValueError(
            f"input {label} is {x.shape[1]}×{x.shape[2]} but the model expects {h}×{w}; "
            f"resize it to {h}×{w} or pass --allow-resize (bilinear)"
        )
    shrink = x.shape[1] > h or x.shape[2] > w
    return F.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False, antialias=shrink)[0]


def to_chw(arr: np.ndarray, c: int, what: str, spec: InputSpec) -> np.ndarray:
    """A 2-D (one band) or 3-D array as C×H×W, the band axis found by matching the model's ``c``."""
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(
            f"input {what} has shape {tuple(arr.shape)}; expected H×W, C×H×W or H×W×C with C = {c}"
        )
    if arr.shape[0] == c:
        return arr
    if arr.shape[-1] == c:
        return arr.transpose(2, 0, 1)
    have = min(arr.shape[0], arr.shape[-1])
    raise ValueError(
        f"input {what} has {have} band{'s' if have != 1 else ''} (shape {tuple(arr.shape)}) but the model "
        f"expects {c} ({spec.band_list()}); pass C×H×W or H×W×C with C = {c}"
    )


def check_finite(arr: np.ndarray, path: Path) -> None:
    """Refuse an array holding NaN or infinite values, naming the file and how many there are."""
    if arr.dtype.kind != "f":
        return
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ValueError(
            f"input {path} has {bad:,} non-finite value{'s' if bad != 1 else ''} (NaN or inf); "
            "clean the file or mask those pixels before predicting"
        )


# ---- per kind ---------------------------------------------------------------------------------


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(
            f"input {str(path)!r} is not a supported file; expected one ending in {', '.join(SUFFIXES)}"
        )


def _tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def _read_image(path: Path, spec: InputSpec, convert: bool) -> tuple[np.ndarray, bool]:
    """C×H×W float32 of a PNG/JPEG/... and whether it holds 8-bit values."""
    from PIL import Image

    c = spec.channels
    with Image.open(path) as img:
        have = 1 if img.mode in GREY_MODES else 3
        if have != c:
            if c not in (1, 3):
                raise ValueError(
                    f"input {path} is an image with {have} band{'s' if have > 1 else ''} but the model expects "
                    f"{c} ({spec.band_list()}); pass a .npy array or GeoTIFF with {c} bands"
                )
            if not convert:
                kind = "grey" if have == 1 else "colour"
                raise ValueError(
                    f"input {path} is a {kind} image ({have} band{'s' if have > 1 else ''}) but the model expects "
                    f"{c} ({spec.band_list()}); pass --convert to convert it"
                )
        if c == 1:
            img = img.convert("L") if have == 3 or img.mode in ("1", "LA") else img
        else:
            img = img.convert("RGB")
        eight_bit = img.mode not in WIDE_MODES
        arr = np.asarray(img, dtype=np.float32)
    check_finite(arr, path)  # a floating-point ("F") TIFF-in-PIL image may hold NaN
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)), eight_bit


def _read_array(path: Path) -> np.ndarray:
    if path.suffix.lower() in TIFF_SUFFIXES:
        return _read_tiff(path)
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"input {path} is not a plain numeric .npy array ({exc})") from None


def _read_tiff(path: Path) -> np.ndarray:
    """A GeoTIFF through the datasets' reader (band-first, or H×W×C kept for :func:`to_chw`)."""
    try:
        import tifffile  # noqa: F401  (read_geotiff needs it; fail here with the fix)
    except ImportError:
        raise ValueError(f"reading {path} needs the tifffile package; pip install tifffile") from None
    from archlab.data.geotiff import SampleError, read_geotiff

    try:
        return read_geotiff(path)
    except SampleError as exc:
        raise ValueError(f"input {path}: {exc.problem}") from None
