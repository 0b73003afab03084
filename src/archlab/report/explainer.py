"""``archlab explain``: where a trained model looks — saliency overlays for chosen images.

The model is rebuilt by :func:`archlab.rundir.restore` from the run's checkpoint
(``best.pt``, else ``last.pt``). Each input is read by the one reader
(:mod:`archlab.data.reader`: the same band, conversion and NaN rules as ``archlab predict``),
resized to the trained size, and fed through the run's :meth:`InputSpec.preprocess`, exactly
as training fed its batches. For every image one PNG shows the input (an RGB composite for
multispectral data) beside the saliency overlay, titled with the prediction; ``explain.json``
lists them.
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

from archlab.data.reader import Input, fit_size, read_inputs
from archlab.report.images import display_rgb
from archlab.report.saliency import (
    ATTENTION_METHODS,
    CAM_METHODS,
    METHODS,
    attention_map,
    cam_map,
    pick_target_layer,
)
from archlab.rundir import Restored

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


def load_trained(run_dir: str | Path, device: str | torch.device = "cpu") -> Restored:
    """The run's model with its best (else last) weights, in eval mode (:func:`archlab.rundir.restore`)."""
    from archlab.rundir import RunDir, restore

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run directory {str(run_dir)!r} not found; pass a folder written by archlab train"
        )
    which = "best" if RunDir(run_dir).checkpoint_path("best").is_file() else "last"
    return restore(run_dir, which=which, device=device)


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
    convert: bool = False,
) -> list[Path]:
    """Write one saliency overlay PNG per image into ``out_dir``; return their paths.

    ``method`` is one of :data:`archlab.report.saliency.METHODS`; ``target`` a class name or
    index (default: the top-scoring class, for multi-label models too); ``bands_rgb`` the three
    band names of the displayed composite; ``layer`` the CAM layer by module name; ``convert``
    lets a colour image feed a grey model (or grey a colour one), as ``archlab predict --convert``.
    A 4-D ``.npy`` is a batch: one overlay per item.
    """
    if method not in METHODS:
        from archlab._registry import closest

        near = closest(method, METHODS, n=2)
        hint = f"did you mean {' or '.join(near)}?" if near else f"choose one of {', '.join(METHODS)}"
        raise ValueError(f"unknown explain method {method!r}; {hint}")
    if not images:
        raise ValueError("explain needs at least one image; pass --images PATH [PATH ...]")
    restored = load_trained(run_dir, device)
    model, spec = restored.model, restored.spec
    classes = list(spec.classes)
    chosen = resolve_target(target, classes)
    if method in CAM_METHODS:
        layer_name, layer_mod, reshape = pick_target_layer(model, spec.input_size, layer)
    else:
        layer_name, layer_mod, reshape = "", None, None
    # Read all first: a bad file fails before anything is written.
    loaded = [item for p in images for item in read_inputs(p, spec, convert=convert)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = [_stem(img) for img in loaded]
    written: list[Path] = []
    index: list[dict[str, Any]] = []
    for n, img in enumerate(loaded):
        x = spec.preprocess(fit_size(img.x, img.label, spec, allow_resize=True))[None].to(device)
        with torch.no_grad():
            scores = _scores(model(x).float(), spec.task)[0].cpu()
        top = int(scores.argmax())
        cls_idx = top if chosen is None else chosen
        if method in CAM_METHODS:
            heat = cam_map(model, x, cls_idx, method, layer_mod, reshape)
            what = f"{METHOD_TITLES[method]} for '{classes[cls_idx]}' at {layer_name}"
        else:
            with torch.no_grad():
                heat = attention_map(model, x, method)
            what = f"{METHOD_TITLES[method]} (class-agnostic)"
        h0, w0 = img.x.shape[-2:]
        heat = F.interpolate(heat[None, None].float(), size=(h0, w0), mode="bilinear", align_corners=False)[
            0, 0
        ]
        rgb = display_rgb(img, spec.band_names, list(bands_rgb) if bands_rgb else None)
        best3 = scores.topk(min(3, len(classes)))
        pred_text = ", ".join(
            f"'{classes[int(i)]}' {float(s):.2f}" for s, i in zip(best3.values, best3.indices)
        )
        label = "scores" if spec.task == "multi_label" else "prediction"
        stem = stems[n] if stems.count(stems[n]) == 1 else f"{n:02d}_{stems[n]}"
        suffix = f"_{_slug(classes[cls_idx])}" if method in CAM_METHODS else ""
        out = out_dir / f"{stem}_{_slug(method.replace('+', 'p'))}{suffix}.png"
        shown = img.path.name if img.index is None else f"{img.path.name}[{img.index}]"
        out.write_bytes(_overlay_png(rgb, heat.numpy(), f"input {shown}", what, f"{label}: {pred_text}"))
        written.append(out)
        index.append(
            {
                "image": img.label,
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
        json.dumps(
            {"run_dir": str(run_dir), "checkpoint": restored.checkpoint.name, "images": index}, indent=2
        )
        + "\n"
    )
    return written


def _stem(img: Input) -> str:
    """The output name's stem: the file's, with ``_i`` for item i of a batch ``.npy``."""
    return img.path.stem if img.index is None else f"{img.path.stem}_{img.index}"


__all__ = ["ATTENTION_METHODS", "CAM_METHODS", "METHODS", "explain", "load_trained", "resolve_target"]
