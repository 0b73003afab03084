"""``archlab explain``: where a trained model looks — saliency overlays for chosen images.

The model is rebuilt from the run's checkpoint (``best.pt``, else ``last.pt``) and fed each
image exactly as training fed its batches (the checkpoint's bands, size, ``scale``, ``mean``
and ``std``). For every image one PNG shows the input (an RGB composite for multispectral
data) beside the saliency overlay, titled with the prediction; ``explain.json`` lists them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archlab.report.images import display_rgb, normalise, read_image, resize
from archlab.report.saliency import (
    ATTENTION_METHODS,
    CAM_METHODS,
    METHODS,
    attention_map,
    cam_map,
    pick_target_layer,
)

METHOD_TITLES = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "hirescam": "HiResCAM",
    "xgradcam": "XGrad-CAM",
    "layercam": "LayerCAM",
    "eigencam": "Eigen-CAM",
    "eigengradcam": "Eigen-Grad-CAM",
    "scorecam": "Score-CAM",
    "ablationcam": "Ablation-CAM",
    "attention": "attention (last block, [CLS])",
    "rollout": "attention rollout",
}


def load_trained(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The run's model with its best (else last) weights, in eval mode, and the checkpoint's metadata.

    A thin view of :func:`archlab.train.restore.load_run`, which rebuilds the model.
    """
    from archlab.train.restore import load_run

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run directory {str(run_dir)!r} not found; pass a folder written by archlab train"
        )
    which = "best" if (run_dir / "best.pt").is_file() else "last"
    r = load_run(run_dir, which=which, device=device)
    meta = {
        "model_name": r.model_name,
        "input_size": r.input_size,
        "bands": r.bands,
        "mean": r.mean,
        "std": r.std,
        "scale": r.scale,
        "task": r.task,
        "epoch": r.epoch,
        "classes": r.classes,
        "normalize": r.normalize,
        "checkpoint": r.checkpoint.name,
    }
    return r.model, meta


def resolve_target(target: int | str | None, classes: list[str]) -> int | None:
    """Class index of ``target`` given as a class name or an index; ``None`` keeps the top-scoring class."""
    if target is None:
        return None
    text = str(target)
    if text in classes:
        return classes.index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(classes):
        return int(text)
    from archlab._registry import closest

    near = closest(text, classes, n=3)
    hint = f"did you mean {', '.join(near)}?" if near else f"choose a name or an index 0..{len(classes) - 1}"
    raise ValueError(f"target class {text!r} is not one of this model's {len(classes)} classes; {hint}")


def _scores(logits: torch.Tensor, task: str) -> torch.Tensor:
    return torch.sigmoid(logits) if task == "multi_label" else logits.softmax(-1)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "class"


def _overlay_png(
    rgb: np.ndarray, heat: np.ndarray, title_left: str, title_right: str, suptitle: str
) -> bytes:
    """Input beside input + heat map (jet, 45 % opacity), one PNG."""
    from archlab.report.plots import _figure, _png

    h, w = rgb.shape[:2]
    aspect = w / max(1, h)
    fig = _figure(2 * 3.6 * min(2.0, max(0.6, aspect)) + 0.8, 4.1, layout=None)
    fig.subplots_adjust(left=0.02, right=0.9, bottom=0.03, top=0.84, wspace=0.06)
    ax_in, ax_ov = fig.subplots(1, 2)
    small = max(h, w) < 64  # show tiny inputs as crisp pixels
    interp = "nearest" if small else "antialiased"
    for ax, title in ((ax_in, title_left), (ax_ov, title_right)):
        ax.imshow(rgb, interpolation=interp)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    im = ax_ov.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
    fig.colorbar(im, ax=ax_ov, fraction=0.046, pad=0.02)
    fig.suptitle(suptitle, fontsize=10)
    return _png(fig)


def explain(
    run_dir: str | Path,
    images: Sequence[str | Path],
    out_dir: str | Path,
    method: str = "gradcam",
    target: int | str | None = None,
    bands_rgb: Sequence[str] | None = None,
    layer: str | None = None,
    device: str = "cpu",
) -> list[Path]:
    """Write one saliency overlay PNG per image into ``out_dir``; return their paths.

    ``method`` is one of :data:`archlab.report.saliency.METHODS`; ``target`` a class name or
    index (default: the top-scoring class, for multi-label models too); ``bands_rgb`` the three
    band names of the displayed composite; ``layer`` the CAM layer by module name.
    """
    if method not in METHODS:
        from archlab._registry import closest

        near = closest(method, METHODS, n=2)
        hint = f"did you mean {' or '.join(near)}?" if near else f"choose one of {', '.join(METHODS)}"
        raise ValueError(f"unknown explain method {method!r}; {hint}")
    if not images:
        raise ValueError("explain needs at least one image; pass --images PATH [PATH ...]")
    model, meta = load_trained(run_dir, device)
    classes, input_size, task = meta["classes"], meta["input_size"], meta.get("task") or "single_label"
    bands = list(meta.get("bands") or [])
    scale = float(meta.get("scale") or 255.0)
    chosen = resolve_target(target, classes)
    if method in CAM_METHODS:
        layer_name, layer_mod, reshape = pick_target_layer(model, input_size, layer)
    else:
        layer_name, layer_mod, reshape = "", None, None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = [read_image(p, input_size[0], scale) for p in images]  # read all first: fail before writing
    stems = [img.path.stem for img in loaded]
    written: list[Path] = []
    index: list[dict[str, Any]] = []
    for n, img in enumerate(loaded):
        x = normalise(resize(img.raw, input_size[1:]), meta, meta["normalize"])[None].to(device)
        with torch.no_grad():
            scores = _scores(model(x).float(), task)[0].cpu()
        top = int(scores.argmax())
        cls_idx = top if chosen is None else chosen
        if method in CAM_METHODS:
            heat = cam_map(model, x, cls_idx, method, layer_mod, reshape)
            what = f"{METHOD_TITLES[method]} for '{classes[cls_idx]}' at {layer_name}"
        else:
            with torch.no_grad():
                heat = attention_map(model, x, method)
            what = f"{METHOD_TITLES[method]} (class-agnostic)"
        h0, w0 = img.raw.shape[-2:]
        heat = F.interpolate(heat[None, None].float(), size=(h0, w0), mode="bilinear", align_corners=False)[
            0, 0
        ]
        rgb = display_rgb(img, bands, list(bands_rgb) if bands_rgb else None)
        best3 = scores.topk(min(3, len(classes)))
        pred_text = ", ".join(
            f"'{classes[int(i)]}' {float(s):.2f}" for s, i in zip(best3.values, best3.indices)
        )
        label = "scores" if task == "multi_label" else "prediction"
        stem = img.path.stem if stems.count(img.path.stem) == 1 else f"{n:02d}_{img.path.stem}"
        suffix = f"_{_slug(classes[cls_idx])}" if method in CAM_METHODS else ""
        out = out_dir / f"{stem}_{_slug(method.replace('+', 'p'))}{suffix}.png"
        out.write_bytes(
            _overlay_png(rgb, heat.numpy(), f"input {img.path.name}", what, f"{label}: {pred_text}")
        )
        written.append(out)
        index.append(
            {
                "image": str(img.path),
                "output": out.name,
                "method": method,
                "layer": layer_name or None,
                "target": classes[cls_idx] if method in CAM_METHODS else None,
                "predicted": classes[top],
                "score": float(scores[top]),
                "peak": [int(v) for v in np.unravel_index(int(heat.argmax()), heat.shape)],
            }
        )
    (out_dir / "explain.json").write_text(
        json.dumps({"run_dir": str(run_dir), "checkpoint": meta["checkpoint"], "images": index}, indent=2)
        + "\n"
    )
    return written


__all__ = ["ATTENTION_METHODS", "CAM_METHODS", "METHODS", "explain", "load_trained", "resolve_target"]
