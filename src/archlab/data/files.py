"""Datasets from image files (an ImageFolder tree or a CSV of path,label) and a synthetic set.

Images are decoded once with Pillow into one uint8 tensor (resized to
``data.image_size`` when given), so training batches by indexing as for the
built-in datasets. Class names are sorted, as torchvision's ``ImageFolder`` does.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from archlab.data.datasets import TensorDataset, TensorSplit, carve_split, register_dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def read_image(path: Path, size: list[int] | None) -> np.ndarray:
    """Decode ``path`` to an H×W×C uint8 array (grey stays one channel), resized to ``size`` = [H, W]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "RGB"):
                img = img.convert("RGB" if img.mode in ("RGBA", "P", "CMYK", "YCbCr", "LA") else "L")
            if size is not None:
                img = img.resize((int(size[1]), int(size[0])), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file {str(path)!r} not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(
            f"image file {str(path)!r} cannot be decoded ({exc}); remove or replace it"
        ) from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def stack_images(paths: list[Path], size: list[int] | None) -> torch.Tensor:
    """Decode ``paths`` into one N×C×H×W uint8 tensor; all images must share a size unless resized."""
    arrays = [read_image(p, size) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        channels = {s[2] for s in shapes}
        if len(channels) > 1:
            # Mixed grey and colour files: promote grey to three channels.
            arrays = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrays]
            shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            sizes = sorted({f"{s[0]}x{s[1]}" for s in shapes})[:4]
            raise ValueError(
                f"images have different sizes ({', '.join(sizes)}, ...); set data.image_size=[H, W] to resize them"
            )
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _folder_split(
    folder: Path, size: list[int] | None, classes: list[str] | None
) -> tuple[TensorSplit, list[str]]:
    found = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if classes is None:
        classes = found
    elif found != classes:
        raise ValueError(f"{str(folder)!r} has classes {found} but the train split has {classes}")
    paths, labels = [], []
    for k, name in enumerate(classes):
        files = sorted(p for p in (folder / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [k] * len(files)
    if not paths:
        raise FileNotFoundError(
            f"no image files under {str(folder)!r}; expected {folder}/<class>/<image>.png"
        )
    return TensorSplit(stack_images(paths, size), torch.tensor(labels, dtype=torch.int64)), classes


@register_dataset("imagefolder")
def imagefolder(cfg) -> TensorDataset:
    """``root/train/<class>/*.png`` and ``root/test/<class>/*`` (or ``val``); without a test folder, a split."""
    root = Path(cfg.root).expanduser()
    train_dir = root / "train" if (root / "train").is_dir() else root
    if not train_dir.is_dir():
        raise FileNotFoundError(
            f"image folder {str(root)!r} not found; expected {root}/train/<class>/<image>"
        )
    train, classes = _folder_split(train_dir, cfg.image_size, None)
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if test_dir is not None and train_dir != root:
        test, _ = _folder_split(test_dir, cfg.image_size, classes)
    else:
        train, test = carve_split(train, cfg.test_split, cfg.split_seed, "data.test_split")
    channels = train.x.shape[1]
    return TensorDataset(
        "imagefolder", train, test, classes, bands=["gray"] if channels == 1 else ["R", "G", "B"]
    )


def _read_csv(path: Path) -> list[tuple[Path, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {str(path)!r} not found; expected rows of path,label")
    rows = []
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        for i, row in enumerate(reader, start=1):
            if not row or row[0].startswith("#"):
                continue
            if i == 1 and row[0].strip().lower() in ("path", "file", "filename", "image"):
                continue  # header
            if len(row) < 2:
                raise ValueError(f"{str(path)!r} line {i}: expected path,label, got {row!r}")
            rows.append((path.parent / row[0].strip(), row[1].strip()))
    if not rows:
        raise ValueError(f"CSV file {str(path)!r} has no rows")
    return rows


@register_dataset("csv")
def csv_dataset(cfg) -> TensorDataset:
    """``root/<train_csv>`` and ``root/<test_csv>``: rows of ``path,label`` (paths relative to the CSV)."""
    root = Path(cfg.root).expanduser()
    train_rows = _read_csv(root / cfg.train_csv)
    classes = sorted({label for _, label in train_rows})
    index = {c: k for k, c in enumerate(classes)}

    def split(rows: list[tuple[Path, str]], what: str) -> TensorSplit:
        unknown = sorted({label for _, label in rows if label not in index})
        if unknown:
            raise ValueError(f"{what} has labels not in the training CSV: {unknown[:5]}")
        x = stack_images([p for p, _ in rows], cfg.image_size)
        return TensorSplit(x, torch.tensor([index[label] for _, label in rows], dtype=torch.int64))

    train = split(train_rows, cfg.train_csv)
    if (root / cfg.test_csv).is_file():
        test = split(_read_csv(root / cfg.test_csv), cfg.test_csv)
    else:
        train, test = carve_split(train, cfg.test_split, cfg.split_seed, "data.test_split")
    channels = train.x.shape[1]
    return TensorDataset("csv", train, test, classes, bands=["gray"] if channels == 1 else ["R", "G", "B"])


@register_dataset("synthetic")
def synthetic(cfg) -> TensorDataset:
    """Class templates (smooth random fields) times a random gain plus Gaussian noise, as uint8 images.

    Learnable but not trivial: the noise level (``data.synthetic.noise``) sets the difficulty.
    Generated from ``data.split_seed``, so every run sees the same images.
    """
    s = cfg.synthetic
    if s.num_classes < 2 or s.channels < 1 or s.size < 4:
        raise ValueError("data.synthetic needs num_classes >= 2, channels >= 1 and size >= 4")
    g = torch.Generator().manual_seed(cfg.split_seed)
    coarse = max(2, s.size // 4)
    templates = torch.rand(s.num_classes, s.channels, coarse, coarse, generator=g)
    templates = torch.nn.functional.interpolate(
        templates, size=(s.size, s.size), mode="bicubic", align_corners=False
    )

    def make(n: int) -> TensorSplit:
        y = torch.arange(n) % s.num_classes
        y = y[torch.randperm(n, generator=g)]
        gain = 0.75 + 0.5 * torch.rand(n, 1, 1, 1, generator=g)
        x = gain * templates[y] + s.noise * torch.randn(n, s.channels, s.size, s.size, generator=g)
        return TensorSplit((x.clamp(0, 1) * 255).round().to(torch.uint8), y.to(torch.int64))

    train, test = make(s.train_samples), make(s.test_samples)
    bands = [f"band{i + 1}" for i in range(s.channels)]
    return TensorDataset("synthetic", train, test, [f"class{i}" for i in range(s.num_classes)], bands=bands)
