"""Datasets from image files (an ImageFolder tree or a CSV of path,label) and a synthetic set.

Images are decoded once with Pillow (on threads when the images are large enough
for that to pay), straight into one N×C×H×W uint8 tensor in file order (resized
to ``data.image_size`` when given), so training batches by indexing as for the
built-in datasets. Class names are sorted, as torchvision's
``ImageFolder`` does; hidden entries (``.ipynb_checkpoints/``, ``._x.jpg``) are ignored.

A bad file (missing, empty, truncated, not an image) is a :class:`SampleError`
``"<path>: <problem>"``. Under ``data.on_error: raise`` the first bad file in file
order stops loading, whichever thread read it; under ``skip`` every bad file is
dropped and its line kept in ``TensorDataset.skipped``, as are an empty class
folder, a training class left with no readable image (the class is dropped) and
test samples of a class the training split lacks.
"""

from __future__ import annotations

import csv
import itertools
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archlab.data.datasets import TensorDataset, TensorSplit, carve_split, register_dataset
from archlab.data.geotiff import MissingSampleFile, SampleError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# Pillow modes other than L and RGB, and what they become; any other mode (1, I;16, I, F) becomes L.
COLOUR_MODES = {"RGBA": "RGB", "RGBX": "RGB", "P": "RGB", "PA": "RGB", "CMYK": "RGB", "YCbCr": "RGB"}
COLOUR_MODES.update({"LAB": "RGB", "HSV": "RGB", "LA": "L"})
MAX_DECODE_THREADS = 8  # more gain nothing (16 were slower than 8 on 16 cores)
DECODE_CHUNK = 16  # images per thread task
PARALLEL_MIN_S = 0.5e-3  # decode time per image from which threads pay


def read_image(path: Path, size: Sequence[int] | None) -> np.ndarray:
    """Decode ``path`` to an H×W×C uint8 array (grey stays one channel), resized to ``size`` = [H, W].

    Raises :class:`MissingSampleFile` (a ``FileNotFoundError``) or :class:`SampleError`
    (a ``ValueError``) naming the file. Safe to call from several threads at once.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "RGB"):
                img = img.convert(COLOUR_MODES.get(img.mode, "L"))
            if size is not None:
                img = img.resize((int(size[1]), int(size[0])), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise MissingSampleFile(path, "file not found") from None
    except UnidentifiedImageError:
        empty = os.path.getsize(path) == 0
        problem = "empty file (0 bytes)" if empty else "not an image format Pillow recognises"
        raise SampleError(path, f"cannot be decoded: {problem}") from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's decoders raise OSError, SyntaxError, ValueError, ...
        raise SampleError(path, f"cannot be decoded ({type(exc).__name__}: {exc})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def _read_or_error(path: Path, size: Sequence[int] | None) -> np.ndarray | SampleError:
    try:
        return read_image(path, size)
    except SampleError as exc:
        return exc


def _in_order(fn: Callable[[Any], Any], items: Sequence[Any], threads: int | None) -> Iterator[Any]:
    """``map(fn, items)`` in order; on ``threads`` threads, ``DECODE_CHUNK`` items a task, a few tasks ahead.

    ``threads=None`` decodes the first chunk here, timing it, and uses threads only when
    an image takes ``PARALLEL_MIN_S`` or more: Pillow releases the GIL while it decodes
    and resizes but not while it parses a file, so on 16 cores 32×32 PNGs decode 2-3×
    slower on threads while 256×256 JPEGs decode 2.5-3× faster on 4 to 8 of them.
    Leaving the loop early (an error) waits only for the tasks in flight.
    """
    start = 0
    if threads is None and items:
        head = [fn(items[0])]  # untimed: the first call imports Pillow's plugins
        t0 = time.perf_counter()
        head += [fn(item) for item in items[1 : DECODE_CHUNK + 1]]
        slow = time.perf_counter() - t0 >= PARALLEL_MIN_S * max(1, len(head) - 1)
        threads, start = (decode_threads() if slow else 1), len(head)
        yield from head
    rest = items[start:]
    if threads is None or threads <= 1 or len(rest) <= DECODE_CHUNK:
        yield from map(fn, rest)
        return
    chunks = (rest[i : i + DECODE_CHUNK] for i in range(0, len(rest), DECODE_CHUNK))
    task = partial(_map_list, fn)
    with ThreadPoolExecutor(threads, thread_name_prefix="archlab-decode") as pool:
        pending = deque(pool.submit(task, chunk) for chunk in itertools.islice(chunks, 2 * threads))
        while pending:
            done = pending.popleft().result()
            pending.extend(pool.submit(task, chunk) for chunk in itertools.islice(chunks, 1))
            yield from done


def _map_list(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    return [fn(item) for item in items]


def decode_threads() -> int:
    """Threads for decoding: the CPUs this process may use, at most ``MAX_DECODE_THREADS``."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_DECODE_THREADS, cpus))


def decode_images(
    paths: Sequence[Path], size: Sequence[int] | None, on_error: str = "raise", threads: int | None = None
) -> tuple[torch.Tensor, list[int], list[str]]:
    """Decode ``paths`` into one N×C×H×W uint8 tensor: (the tensor, indices of the paths kept, skip records).

    Images are written into one preallocated array as they arrive, in order (no
    second copy of the split). Grey files among colour ones become three equal
    channels. Images of different sizes raise, naming the sizes, unless ``size`` is given.
    ``threads`` decode at once (``None``: chosen by timing the first images, see :func:`_in_order`).
    """
    stack: np.ndarray | None = None
    kept: list[int] = []
    skipped: list[str] = []
    sizes: dict[tuple[int, int], list] = {}  # (H, W) -> [count, first file]
    results = _in_order(partial(_read_or_error, size=size), paths, threads)
    with closing(results):  # an early raise stops the threads at once
        for i, arr in enumerate(results):
            if isinstance(arr, SampleError):
                if on_error != "skip":
                    raise arr
                skipped.append(arr.record)
                continue
            h, w, c = arr.shape
            sizes.setdefault((h, w), [0, paths[i]])[0] += 1
            if len(sizes) > 1:
                continue  # cannot be stacked: read on only to name every size
            if stack is None:
                stack = np.empty((len(paths), c, h, w), dtype=np.uint8)
            elif c > stack.shape[1]:  # the first colour image after grey ones: widen what is there
                wider = np.empty((len(paths), c, h, w), dtype=np.uint8)
                wider[: len(kept)] = stack[: len(kept)]
                stack = wider
            stack[len(kept)] = arr.transpose(2, 0, 1)  # a grey image broadcasts over three channels
            kept.append(i)
    if len(sizes) > 1:
        common = sorted(sizes.items(), key=lambda kv: -kv[1][0])
        listed = ", ".join(f"{h}x{w} in {n:,} file(s) (first {str(p)!r})" for (h, w), (n, p) in common[:4])
        more = f" and {len(common) - 4} more sizes" if len(common) > 4 else ""
        raise ValueError(
            f"images have different sizes (H x W: {listed}{more}); set data.image_size=[H, W] to resize them"
        )
    if stack is None:
        return torch.empty(0, dtype=torch.uint8), kept, skipped
    return torch.from_numpy(stack[: len(kept)]), kept, skipped


def _bad(what: str | Path, problem: str, on_error: str, skipped: list[str]) -> None:
    """Raise ``SampleError(what, problem)``, or under ``skip`` record it."""
    err = SampleError(what, problem)
    if on_error != "skip":
        raise err
    skipped.append(err.record)


def _labelled_split(
    samples: list[tuple[Path, str]], classes: list[str] | None, cfg, what: str
) -> tuple[TensorSplit, list[str], list[str]]:
    """Decode ``(path, class name)`` samples into a split: (split, its classes, skip records).

    ``classes`` is ``None`` for a training split: its classes are then the sorted names
    with at least one readable image (under ``skip``, a class whose every file is bad is
    dropped, and recorded). Otherwise the samples' classes must be among ``classes``.
    """
    x, kept, skipped = decode_images([p for p, _ in samples], cfg.image_size, cfg.on_error)
    if not kept:
        first = f"; first: {skipped[0]}" if skipped else ""
        raise ValueError(f"{what} has no readable images ({len(skipped):,} skipped{first})")
    names = [samples[i][1] for i in kept]
    if classes is None:
        classes = sorted(set(names))
        for lost in sorted({c for _, c in samples} - set(classes)):
            n = sum(c == lost for _, c in samples)
            skipped.append(f"{what}: class {lost!r} dropped, none of its {n:,} image file(s) could be read")
    index = {c: k for k, c in enumerate(classes)}
    return TensorSplit(x, torch.tensor([index[c] for c in names], dtype=torch.int64)), classes, skipped


def _visible(path: Path, top: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(top).parts)


def _folder_samples(folder: Path, on_error: str, skipped: list[str]) -> list[tuple[Path, str]]:
    """``(image file, class folder name)`` under ``folder/<class>/``, sorted; an empty class folder is bad."""
    samples = []
    for d in sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")):
        files = sorted(
            p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and _visible(p, d) and p.is_file()
        )
        if not files:
            _bad(d, f"class folder has no image files ({', '.join(IMAGE_SUFFIXES)})", on_error, skipped)
        samples += [(p, d.name) for p in files]
    if not samples:
        raise FileNotFoundError(
            f"no image files under {str(folder)!r}; expected {folder}/<class>/<image>.png"
        )
    return samples


def _rgb_or_grey(*splits: TensorSplit) -> tuple[TensorSplit, ...]:
    """Splits of the same channel count (grey ones widened when another is colour) and image size."""
    channels = {s.x.shape[1] for s in splits}
    if len(channels) > 1:
        splits = tuple(TensorSplit(s.x.expand(-1, 3, -1, -1).contiguous(), s.y) for s in splits)
    sizes = sorted({"x".join(map(str, s.x.shape[2:])) for s in splits})
    if len(sizes) > 1:
        raise ValueError(
            f"train and test images differ in size (H x W: {', '.join(sizes)}); "
            "set data.image_size=[H, W] to resize them"
        )
    return splits


def _dataset(name: str, train: TensorSplit, test: TensorSplit, classes: list[str], skipped: list[str]):
    train, test = _rgb_or_grey(train, test)
    bands = ["gray"] if train.x.shape[1] == 1 else ["R", "G", "B"]
    return TensorDataset(name, train, test, classes, bands=bands, skipped=skipped)


@register_dataset("imagefolder")
def imagefolder(cfg) -> TensorDataset:
    """``root/train/<class>/*.png`` and ``root/test/<class>/*`` (or ``val``); without a test folder, a split."""
    root = Path(cfg.root).expanduser()
    train_dir = root / "train" if (root / "train").is_dir() else root
    if not train_dir.is_dir():
        raise FileNotFoundError(
            f"image folder {str(root)!r} not found; expected {root}/train/<class>/<image>"
        )
    skipped: list[str] = []
    train_samples = _folder_samples(train_dir, cfg.on_error, skipped)
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if test_dir is None or train_dir == root:
        train, classes, dropped = _labelled_split(train_samples, None, cfg, str(train_dir))
        train, test = carve_split(train, cfg.test_split, cfg.split_seed, "data.test_split")
        return _dataset("imagefolder", train, test, classes, skipped + dropped)
    test_samples = _folder_samples(test_dir, cfg.on_error, skipped)
    found, listed = sorted({c for _, c in test_samples}), sorted({c for _, c in train_samples})
    if cfg.on_error != "skip" and found != listed:  # before decoding anything
        raise ValueError(f"{str(test_dir)!r} has classes {found} but the train split has {listed}")
    train, classes, dropped = _labelled_split(train_samples, None, cfg, str(train_dir))
    skipped += dropped
    known = set(classes)
    for c in sorted(set(found) - known):
        n = sum(name == c for _, name in test_samples)
        skipped.append(
            f"{test_dir / c}: class {c!r} has no readable image in the train split; its {n:,} images skipped"
        )
    test_samples = [s for s in test_samples if s[1] in known]
    test, _, dropped = _labelled_split(test_samples, classes, cfg, str(test_dir))
    return _dataset("imagefolder", train, test, classes, skipped + dropped)


def _read_csv(path: Path, on_error: str, skipped: list[str]) -> list[tuple[Path, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {str(path)!r} not found; expected rows of path,label")
    rows = []
    with path.open(newline="") as fh:
        for i, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].startswith("#"):
                continue
            if i == 1 and row[0].strip().lower() in ("path", "file", "filename", "image"):
                continue  # header
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                _bad(f"{path} line {i}", f"expected path,label, got {row!r}", on_error, skipped)
                continue
            rows.append((path.parent / row[0].strip(), row[1].strip()))
    if not rows:
        raise ValueError(f"CSV file {str(path)!r} has no rows of path,label")
    return rows


@register_dataset("csv")
def csv_dataset(cfg) -> TensorDataset:
    """``root/<train_csv>`` and ``root/<test_csv>``: rows of ``path,label`` (paths relative to the CSV)."""
    root = Path(cfg.root).expanduser()
    skipped: list[str] = []
    train_rows = _read_csv(root / cfg.train_csv, cfg.on_error, skipped)
    test_rows = (
        _read_csv(root / cfg.test_csv, cfg.on_error, skipped) if (root / cfg.test_csv).is_file() else None
    )
    if test_rows is not None and cfg.on_error != "skip":  # before decoding anything
        unknown = sorted({label for _, label in test_rows} - {label for _, label in train_rows})
        if unknown:
            raise ValueError(f"{cfg.test_csv} has labels not in the training CSV: {unknown[:5]}")
    train, classes, dropped = _labelled_split(train_rows, None, cfg, str(root / cfg.train_csv))
    skipped += dropped
    if test_rows is None:
        train, test = carve_split(train, cfg.test_split, cfg.split_seed, "data.test_split")
        return _dataset("csv", train, test, classes, skipped)
    known = set(classes)
    skipped += [
        f"{p}: label {c!r} has no readable image in the training CSV" for p, c in test_rows if c not in known
    ]
    test_rows = [r for r in test_rows if r[1] in known]
    test, _, dropped = _labelled_split(test_rows, classes, cfg, str(root / cfg.test_csv))
    return _dataset("csv", train, test, classes, skipped + dropped)


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
