"""Classify image files, folders, ``.npy`` arrays and GeoTIFFs with a trained run or an exported model.

Inputs are read by :mod:`archlab.data.reader` in the dataset's stored units (8-bit images
0–255, reflectances as saved), then fed through the run's
:meth:`~archlab.data.inputspec.InputSpec.preprocess`: ``((x / scale) - mean) / std``.

Rules, checked per input by the reader, each failing with a one-line ``ValueError``:

* Bands. An array (``.npy``, GeoTIFF) must have the model's band count on its first
  axis (C×H×W) or its last (H×W×C); the first wins when both match; a 2-D array is one
  band. A PNG/JPEG is grey (1 band) or colour (3, alpha dropped); it is converted to the
  other only with ``convert=True`` (``--convert``). A 4-D ``.npy`` is a batch.
* Size. Height and width must equal the trained input size, unless ``allow_resize=True``
  (``--allow-resize``) resizes bilinearly (antialiased when shrinking). Fully convolutional
  models with global pooling would run at other sizes, but their accuracy there is
  unmeasured, so a different size is an explicit choice.
* Values. An input holding NaN or infinite values is refused, naming the file and the count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archlab.data.inputspec import InputSpec
from archlab.data.reader import collect_inputs, fit_size, read_inputs

EXPORTED_SUFFIXES = (".onnx", ".torchscript.pt")

__all__ = ["Predictor", "collect_inputs", "decode", "load_predictor", "predict", "render_predictions"]


@dataclass(frozen=True)
class Predictor:
    """A model ready to classify: ``run`` maps a preprocessed float32 N×C×H×W CPU tensor to logits."""

    run: Callable[[torch.Tensor], np.ndarray]
    spec: InputSpec
    name: str
    source: str
    thresholds: list[float] | None = None


def load_predictor(source: str | Path, which: str = "best", device: str = "auto") -> Predictor:
    """The :class:`Predictor` of a run directory, a checkpoint, or an exported ``.onnx``/``.torchscript.pt``."""
    path = Path(source)
    if path.is_file() and path.name.endswith(EXPORTED_SUFFIXES):
        from archlab.bench.export import load_exported, sidecar_spec

        run_exported, meta = load_exported(path)
        return Predictor(
            run=lambda x: run_exported(x.numpy()),
            spec=sidecar_spec(meta, path),
            name=str(meta.get("model_name", path.name)),
            source=str(path),
            thresholds=meta.get("thresholds"),
        )

    from archlab.rundir import restore
    from archlab.train.setup import resolve_device

    dev = resolve_device(device)
    r = restore(path, which=which, device=dev)

    def run(x: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return r.model(x.to(dev)).float().cpu().numpy()

    return Predictor(
        run=run, spec=r.spec, name=r.model_name, source=str(r.checkpoint), thresholds=r.thresholds
    )


def decode(
    logits: np.ndarray, spec: InputSpec, topk: int, thresholds: Sequence[float] | None = None
) -> list[dict[str, Any]]:
    """Per row: the top-k classes with softmax probabilities, or the multi-label set with sigmoid scores."""
    out = []
    z = logits.astype(np.float64)
    if spec.task == "multi_label":
        scores = 1.0 / (1.0 + np.exp(-z))
        thr = np.asarray(thresholds or [0.5] * len(spec.classes), dtype=np.float64)
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
    p = load_predictor(source, which=which, device=device)
    spec = p.spec
    items: list[tuple[str, torch.Tensor]] = []
    for f in files:
        for item in read_inputs(f, spec, convert=convert):
            items.append((item.label, fit_size(item.x, item.label, spec, allow_resize)))
    predictions: list[dict[str, Any]] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = spec.preprocess(torch.stack([x for _, x in chunk]))
        for (label, _), pred in zip(chunk, decode(p.run(batch), spec, topk, p.thresholds)):
            predictions.append({"input": label, **pred})
    return {
        "model": p.name,
        "source": p.source,
        "task": spec.task,
        "classes": spec.num_classes,
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
