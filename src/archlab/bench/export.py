"""Export a trained run to ONNX or TorchScript, verify it against PyTorch, and describe it in a sidecar.

ONNX goes through ``torch.onnx.export(..., dynamo=True)``, the ``torch.export``-based
exporter (the default since PyTorch 2.9; it needs the ``onnxscript`` package). The older
TorchScript-based exporter (``dynamo=False``) still works in torch 2.14 but warns that it
will be removed, and it traces Python shape checks (``if a.shape != b.shape``) into
constants with a warning each; the dynamo exporter handles them as guards. The batch axis
is dynamic (``torch.export.Dim``); height, width and bands are fixed at the trained size.

TorchScript goes through ``torch.jit.trace`` on a batch of 2: tracing records the size
arithmetic of the seed models' ``F.interpolate(x, size=y.shape[2:])`` as graph ops, so the
batch stays dynamic, and it needs no type annotations (``torch.jit.script`` rejects most of
the zoo). TorchScript is deprecated in torch 2.14 and its warnings are silenced here.

Each exported file is checked on random inputs of batch 1 and 3 (ONNX with onnxruntime):
the largest absolute difference from the PyTorch model must be within ``atol`` (1e-4).
A JSON sidecar ``<file>.json`` next to it holds the run's input specification
(:meth:`InputSpec.to_dict`: classes, bands, normalisation, scale, input size, task) as
top-level keys, with the thresholds, so the file can be used without archlab's checkpoint;
:func:`sidecar_spec` reads it back (sidecars of earlier versions hold the same keys).
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from archlab.data.inputspec import InputSpec
from archlab.rundir import Restored, atomic_write_text, restore

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
INPUT_NAME, OUTPUT_NAME = "input", "logits"
EXAMPLE_BATCH = 2  # torch.export specialises a dimension whose example size is 1
PREPROCESS = "x / scale, then (x - mean) / std per band when normalize is true; x in the dataset's stored units, N×C×H×W float32"


class ExportMismatch(RuntimeError):
    """The exported model's outputs differ from PyTorch's by more than the tolerance."""


@dataclass
class ExportResult:
    """Where the export went and how far its outputs are from PyTorch's, per verified batch size."""

    path: Path
    sidecar: Path
    format: str
    max_abs_diff: dict[int, float]
    atol: float


def sidecar_path(path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path, opset: int | None) -> None:
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter imports it; fail early with the fix)
    except ImportError:
        raise ValueError(
            "ONNX export needs the onnxscript package (and onnx, onnxruntime to verify); "
            "pip install onnx onnxscript onnxruntime"
        ) from None
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            external_data=params > 1_500_000_000,  # ONNX's protobuf limit is 2 GB
            verbose=False,
        )


def _export_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example, check_trace=False)
        torch.jit.save(traced, str(path))


def sidecar_spec(meta: dict[str, Any], path: str | Path) -> InputSpec:
    """The :class:`InputSpec` a sidecar describes (its top-level ``classes``, ``input_size``, ``bands``...)."""
    missing = [k for k in ("classes", "input_size") if k not in meta]
    if missing:
        raise ValueError(
            f"sidecar {sidecar_path(path).name} lacks {', '.join(missing)}; re-export it with archlab export"
        )
    try:
        return InputSpec.from_dict(meta)
    except ValueError as exc:
        raise ValueError(
            f"sidecar {sidecar_path(path).name}: {exc}; re-export it with archlab export"
        ) from None


def load_exported(path: str | Path) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
    """``(run, meta)`` for an exported file: ``run`` maps a float32 N×C×H×W array to logits."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exported model {str(path)!r} not found")
    side = sidecar_path(path)
    if not side.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} has no sidecar {side.name}; re-export it with archlab export to write one"
        )
    meta = json.loads(side.read_text())
    if path.suffix == ".onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ValueError("running an ONNX file needs onnxruntime; pip install onnxruntime") from None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

        return run, meta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), map_location="cpu")
    module.eval()

    def run_ts(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    return run_ts, meta


def verify_export(
    path: str | Path,
    model: nn.Module,
    input_size: Sequence[int],
    batch_sizes: Sequence[int] = (1, 3),
    seed: int = 0,
) -> dict[int, float]:
    """Largest absolute difference between the exported file's and ``model``'s outputs, per batch size."""
    run, _ = load_exported(path)
    gen = torch.Generator().manual_seed(seed)
    diffs: dict[int, float] = {}
    for b in batch_sizes:
        x = torch.randn(b, *input_size, generator=gen)
        with torch.no_grad():
            ref = model(x).numpy()
        out = run(x.numpy())
        if out.shape != ref.shape:
            diffs[b] = float("inf")
        else:
            diffs[b] = float(np.abs(out - ref).max())
    return diffs


def export_model(
    restored: Restored,
    fmt: str,
    out: str | Path,
    opset: int | None = None,
    batch_sizes: Sequence[int] = (1, 3),
    atol: float = 1e-4,
) -> ExportResult:
    """Export ``restored.model`` to ``out`` as ``fmt``, write the sidecar, and check outputs within ``atol``."""
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = restored.model.to("cpu").float().eval()
    example = torch.randn(EXAMPLE_BATCH, *restored.input_size, generator=torch.Generator().manual_seed(1))
    if fmt == "onnx":
        _export_onnx(model, example, out, opset)
    else:
        _export_torchscript(model, example, out)

    meta: dict[str, Any] = {
        "format": fmt,
        "file": out.name,
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "dynamic_axes": {INPUT_NAME: [0], OUTPUT_NAME: [0]},
        "preprocess": PREPROCESS,
        "output": "logits: softmax for single_label; sigmoid, then score >= threshold, for multi_label",
        **restored.metadata(),
        "checkpoint": str(restored.checkpoint),
        "torch": torch.__version__,
        "opset": opset,
    }
    side = sidecar_path(out)
    atomic_write_text(side, json.dumps(meta, indent=2) + "\n")  # verify_export reads it
    diffs = verify_export(out, model, restored.input_size, batch_sizes)
    meta["verified"] = {"max_abs_diff": {str(b): d for b, d in diffs.items()}, "atol": atol}
    atomic_write_text(side, json.dumps(meta, indent=2) + "\n")
    worst = max(diffs.values())
    if not worst <= atol:
        raise ExportMismatch(
            f"{out} differs from the PyTorch model by up to {worst:.3g} (tolerance {atol:g}) at batch sizes "
            f"{', '.join(str(b) for b in diffs)}; the file is kept for inspection"
        )
    return ExportResult(path=out, sidecar=side, format=fmt, max_abs_diff=diffs, atol=atol)


def default_export_path(run_dir_or_ckpt: str | Path, fmt: str) -> Path:
    """``RUN_DIR/export/model.onnx`` (or ``model.torchscript.pt``); a ``.pt`` path exports beside it."""
    base = Path(run_dir_or_ckpt)
    folder = base if base.is_dir() else base.parent
    return folder / "export" / f"model{SUFFIX[fmt]}"


def export_run(
    run_dir_or_ckpt: str | Path,
    fmt: str = "onnx",
    out: str | Path | None = None,
    which: str = "best",
    opset: int | None = None,
    atol: float = 1e-4,
) -> ExportResult:
    """Export the model of a run directory (or checkpoint) as ``fmt`` and verify it; see :func:`export_model`."""
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    restored = restore(run_dir_or_ckpt, which=which)
    return export_model(
        restored, fmt, out or default_export_path(run_dir_or_ckpt, fmt), opset=opset, atol=atol
    )
