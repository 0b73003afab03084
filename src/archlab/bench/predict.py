"""Classify image files, folders, ``.npy`` arrays and GeoTIFFs with a trained run or an exported model.

Inputs are read in the dataset's stored units (8-bit images 0–255, reflectances as
saved), then fed through the run's normalisation: ``((x / scale) - mean) / std``.

Rules, checked per input, each failing with a one-line ``ValueError``:

* Bands. An array (``.npy``, GeoTIFF) must have the model's band count on its first
  axis (C×H×W) or its last (H×W×C); the first wins when both match; a 2-D array is one
  band. A PNG/JPEG is grey (1 band) or colour (3, alpha dropped); it is converted to the
  other only with ``convert=True`` (``--convert``). A 4-D ``.npy`` is a batch.
* Size. Height and width must equal the trained input size, unless ``allow_resize=True``
  (``--allow-resize``) resizes bilinearly (antialiased when shrinking). Fully convolutional
  models with global pooling would run at other sizes, but their accuracy there is
  unmeasured, so a different size is an explicit choice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
ARRAY_SUFFIXES = (".npy",)
TIFF_SUFFIXES = (".tif", ".tiff")
SUFFIXES = IMAGE_SUFFIXES + ARRAY_SUFFIXES + TIFF_SUFFIXES
EXPORTED_SUFFIXES = (".onnx", ".torchscript.pt")


@dataclass
class ModelSpec:
    """What a predictor needs to know about the model's input and output."""

    name: str
    source: str
    classes: list[str]
    input_size: tuple[int, int, int]
    bands: list[str]
    mean: list[float]
    std: list[float]
    scale: float
    normalize: bool
    task: str
    thresholds: list[float] | None

    def band_list(self, limit: int = 13) -> str:
        names = self.bands[:limit] + (["..."] if len(self.bands) > limit else [])
        return ", ".join(names)


# ---- finding and reading inputs -----------------------------------------------------------------


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
            if p.suffix.lower() not in SUFFIXES:
                raise ValueError(
                    f"input {str(p)!r} is not a supported file; expected one ending in {', '.join(SUFFIXES)}"
                )
            found.append(p)
        else:
            raise FileNotFoundError(
                f"input {str(p)!r} not found; pass image files, folders, .npy or .tif files"
            )
    if not found:
        raise ValueError("no inputs given; pass image files, folders, .npy arrays or GeoTIFFs")
    return found


def _read_image(path: Path, spec: ModelSpec, convert: bool) -> np.ndarray:
    from PIL import Image

    c = spec.input_size[0]
    with Image.open(path) as img:
        grey_modes = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
        have = 1 if img.mode in grey_modes else 3
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
        arr = np.asarray(img, dtype=np.float32)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def to_chw(arr: np.ndarray, c: int, what: str, spec: ModelSpec) -> np.ndarray:
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


def _read_array(path: Path) -> np.ndarray:
    if path.suffix.lower() in TIFF_SUFFIXES:
        try:
            import tifffile
        except ImportError:
            raise ValueError(f"reading {path} needs the tifffile package; pip install tifffile") from None
        return np.asarray(tifffile.imread(path))
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"input {path} is not a plain numeric .npy array ({exc})") from None


def read_input(path: Path, spec: ModelSpec, convert: bool = False) -> list[tuple[str, np.ndarray]]:
    """``[(label, C×H×W float32 array in stored units)]`` for one file (several for a 4-D ``.npy``)."""
    c = spec.input_size[0]
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [(str(path), _read_image(path, spec, convert))]
    arr = _read_array(path)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"input {path} holds {arr.dtype} values; expected a numeric array")
    if arr.ndim == 4 and path.suffix.lower() in ARRAY_SUFFIXES:
        return [
            (f"{path}[{i}]", to_chw(a, c, f"{path}[{i}]", spec).astype(np.float32)) for i, a in enumerate(arr)
        ]
    return [(str(path), to_chw(arr, c, str(path), spec).astype(np.float32))]


def fit_size(x: np.ndarray, label: str, spec: ModelSpec, allow_resize: bool) -> np.ndarray:
    """``x`` (C×H×W) at the model's H×W: unchanged, resized bilinearly if allowed, or a ValueError."""
    _, h, w = spec.input_size
    if x.shape[1:] == (h, w):
        return x
    if not allow_resize:
        raise ValueError(
            f"input {label} is {x.shape[1]}×{x.shape[2]} but the model expects {h}×{w}; "
            f"resize it to {h}×{w} or pass --allow-resize (bilinear)"
        )
    t = torch.from_numpy(np.ascontiguousarray(x))[None]
    shrink = x.shape[1] > h or x.shape[2] > w
    return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=shrink)[0].numpy()


# ---- the model --------------------------------------------------------------------------------


def load_predictor(
    source: str | Path, which: str = "best", device: str = "auto"
) -> tuple[Callable[[np.ndarray], np.ndarray], ModelSpec]:
    """``(run, spec)`` for a run directory, a checkpoint, or an exported ``.onnx``/``.torchscript.pt`` file.

    ``run`` maps a normalised float32 N×C×H×W array to logits.
    """
    path = Path(source)
    if path.is_file() and path.name.endswith(EXPORTED_SUFFIXES):
        from archlab.bench.export import load_exported

        run, meta = load_exported(path)
        spec = ModelSpec(
            name=meta["model_name"],
            source=str(path),
            classes=list(meta["classes"]),
            input_size=tuple(meta["input_size"]),
            bands=list(meta["bands"]),
            mean=list(meta["mean"]),
            std=list(meta["std"]),
            scale=float(meta["scale"]),
            normalize=bool(meta.get("normalize", True)),
            task=meta["task"],
            thresholds=meta.get("thresholds"),
        )
        return run, spec

    from archlab.train.engine import resolve_device
    from archlab.train.restore import load_run

    dev = resolve_device(device)
    r = load_run(path, which=which, device=dev)
    spec = ModelSpec(
        name=r.model_name,
        source=str(r.checkpoint),
        classes=r.classes,
        input_size=r.input_size,
        bands=r.bands,
        mean=r.mean,
        std=r.std,
        scale=r.scale,
        normalize=r.normalize,
        task=r.task,
        thresholds=r.thresholds,
    )

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return r.model(torch.from_numpy(x).to(dev)).float().cpu().numpy()

    return run, spec


def normalise(batch: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Stored units -> model input: ``x / scale``, then ``(x - mean) / std`` per band."""
    x = batch.astype(np.float32) / np.float32(spec.scale)
    if spec.normalize and spec.mean:
        mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(spec.std, dtype=np.float32).reshape(1, -1, 1, 1)
        x = (x - mean) / std
    return x


def decode(logits: np.ndarray, spec: ModelSpec, topk: int) -> list[dict[str, Any]]:
    """Per row: the top-k classes with softmax probabilities, or the multi-label set with sigmoid scores."""
    out = []
    z = logits.astype(np.float64)
    if spec.task == "multi_label":
        scores = 1.0 / (1.0 + np.exp(-z))
        thr = np.asarray(spec.thresholds or [0.5] * len(spec.classes), dtype=np.float64)
        for row in scores:
            picked = [i for i in np.argsort(-row, kind="stable") if row[i] >= thr[i]]
            out.append(
                {
                    "labels": [
                        {
                            "class": spec.classes[i],
                            "index": int(i),
                            "score": float(row[i]),
                            "threshold": float(thr[i]),
                        }
                        for i in picked
                    ],
                    "scores": {c: float(s) for c, s in zip(spec.classes, row)},
                }
            )
        return out
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    k = min(topk, len(spec.classes))
    for row in probs:
        order = np.argsort(-row, kind="stable")[:k]
        out.append(
            {"top": [{"class": spec.classes[i], "index": int(i), "prob": float(row[i])} for i in order]}
        )
    return out


def predict(
    source: str | Path,
    inputs: Sequence[str | Path],
    topk: int = 5,
    allow_resize: bool = False,
    convert: bool = False,
    batch_size: int = 64,
    which: str = "best",
    device: str = "auto",
) -> dict[str, Any]:
    """Classify ``inputs`` with the model of ``source``; a JSON-able document of the predictions."""
    if topk < 1:
        raise ValueError(f"--topk must be at least 1, got {topk}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    files = collect_inputs(inputs)
    run, spec = load_predictor(source, which=which, device=device)
    items: list[tuple[str, np.ndarray]] = []
    for f in files:
        for label, x in read_input(f, spec, convert=convert):
            items.append((label, fit_size(x, label, spec, allow_resize)))
    predictions: list[dict[str, Any]] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = normalise(np.stack([x for _, x in chunk]), spec)
        for (label, _), pred in zip(chunk, decode(run(batch), spec, topk)):
            predictions.append({"input": label, **pred})
    return {
        "model": spec.name,
        "source": spec.source,
        "task": spec.task,
        "classes": len(spec.classes),
        "input_size": list(spec.input_size),
        "predictions": predictions,
    }


def render_predictions(doc: dict[str, Any], as_json: bool = False) -> str:
    """One line per input (``label: class (prob), ...``), or the document as JSON."""
    if as_json:
        return json.dumps(doc, indent=2)
    lines = []
    for p in doc["predictions"]:
        if doc["task"] == "multi_label":
            if p["labels"]:
                body = ", ".join(f"{x['class']} {x['score']:.3f}" for x in p["labels"])
            else:
                best = max(p["scores"].items(), key=lambda kv: kv[1])
                body = f"(no class at or above its threshold; highest {best[0]} {best[1]:.3f})"
        else:
            body = ", ".join(f"{x['class']} ({x['prob']:.3f})" for x in p["top"])
        lines.append(f"{p['input']}: {body}")
    return "\n".join(lines)
