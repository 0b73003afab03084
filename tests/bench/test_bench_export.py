"""archlab export: ONNX (checked with onnxruntime) and TorchScript within 1e-4, dynamic batch, sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from archlab.bench import export as export_mod
from archlab.bench.export import ExportMismatch, export_run, load_exported, sidecar_path

SIDECAR_KEYS = {"format", "file", "classes", "bands", "mean", "std", "scale", "normalize", "input_size", "task",
                "thresholds", "input_name", "output_name", "dynamic_axes", "verified", "model_name"}  # fmt: skip


def _check_batch_5(path: Path, model: torch.nn.Module, input_size: tuple[int, ...]) -> None:
    """A batch size seen neither at export (2) nor at verification (1, 3) runs and matches."""
    run, _ = load_exported(path)
    x = torch.randn(5, *input_size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = model(x).numpy()
    out = run(x.numpy())
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-4


def test_torchscript_digits(digits_run) -> None:
    run, model = digits_run
    result = export_run(run, "torchscript")
    assert result.path == run / "export" / "model.torchscript.pt" and result.path.is_file()
    assert result.sidecar == run / "export" / "model.torchscript.pt.json"
    assert set(result.max_abs_diff) == {1, 3} and max(result.max_abs_diff.values()) <= 1e-4
    meta = json.loads(result.sidecar.read_text())
    assert SIDECAR_KEYS <= set(meta)
    assert (meta["classes"], meta["bands"], meta["input_size"]) == (
        [str(i) for i in range(10)],
        ["gray"],
        [1, 8, 8],
    )
    assert (meta["mean"], meta["std"], meta["scale"], meta["task"], meta["thresholds"]) == (
        [0.3],
        [0.4],
        255.0,
        "single_label",
        None,
    )
    assert meta["verified"]["atol"] == 1e-4 and set(meta["verified"]["max_abs_diff"]) == {"1", "3"}
    _check_batch_5(result.path, model, (1, 8, 8))


def test_torchscript_multispectral_multi_label(ms_run, ms_bands, tmp_path: Path) -> None:
    run, model = ms_run
    out = tmp_path / "deploy" / "ms.pt"
    result = export_run(run / "best.pt", "torchscript", out=out)
    assert result.path == out and sidecar_path(out) == tmp_path / "deploy" / "ms.pt.json"
    meta = json.loads(result.sidecar.read_text())
    assert meta["bands"] == ms_bands and meta["input_size"] == [12, 16, 16] and meta["scale"] == 10000.0
    assert meta["task"] == "multi_label" and meta["thresholds"] == [0.3 if i % 2 else 0.6 for i in range(19)]
    _check_batch_5(out, model, (12, 16, 16))


@pytest.mark.slow
def test_torchscript_mnist_net3_interpolate_skips(run_factory, tmp_path: Path) -> None:
    model = run_factory(
        tmp_path / "net3", "mnist_net3", [str(i) for i in range(10)], (1, 28, 28), ["gray"], [0.13], [0.31]
    )
    result = export_run(tmp_path / "net3", "torchscript")
    assert max(result.max_abs_diff.values()) <= 1e-4
    _check_batch_5(result.path, model, (1, 28, 28))


def test_a_mismatch_keeps_the_file_and_says_so(digits_run, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = digits_run
    monkeypatch.setattr(export_mod, "verify_export", lambda *a, **k: {1: 0.25, 3: 1e-6})
    with pytest.raises(
        ExportMismatch, match=r"differs from the PyTorch model by up to 0.25 \(tolerance 0.0001\)"
    ):
        export_run(run, "torchscript")
    meta = json.loads((run / "export" / "model.torchscript.pt.json").read_text())
    assert meta["verified"]["max_abs_diff"] == {"1": 0.25, "3": 1e-6}


def test_bad_format_and_missing_sidecar(digits_run, tmp_path: Path) -> None:
    run, _ = digits_run
    with pytest.raises(ValueError, match="export format must be one of onnx, torchscript, got 'tflite'"):
        export_run(run, "tflite")
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="has no sidecar lonely.onnx.json"):
        load_exported(lonely)


def test_export_cli(bench_cli, digits_run, capsys: pytest.CaptureFixture) -> None:
    run, _ = digits_run
    rc = bench_cli("export", str(run), "--format", "torchscript", "--out", str(run / "m.pt"))
    out = capsys.readouterr().out
    assert rc == 0 and (run / "m.pt").is_file() and (run / "m.pt.json").is_file()
    assert "outputs match PyTorch within 0.0001 (torch.jit.load; max abs diff batch 1:" in out


def _onnx_batch_dim(path: Path) -> str:
    import onnx

    graph = onnx.load(str(path)).graph
    dim = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dim[1:]] == [
        int(v) for v in json.loads(sidecar_path(path).read_text())["input_size"]
    ]
    return dim[0].dim_param


@pytest.mark.slow
def test_onnx_mnist_net3_with_onnxruntime(run_factory, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = run_factory(
        tmp_path / "net3", "mnist_net3", [str(i) for i in range(10)], (1, 28, 28), ["gray"], [0.13], [0.31]
    )
    result = export_run(tmp_path / "net3", "onnx")
    assert result.path == tmp_path / "net3" / "export" / "model.onnx"
    assert max(result.max_abs_diff.values()) <= 1e-4
    assert _onnx_batch_dim(result.path) != ""  # symbolic: the batch axis is dynamic
    _check_batch_5(result.path, model, (1, 28, 28))


@pytest.mark.slow
def test_onnx_multispectral_v9_full_size(run_factory, ms_bands, tmp_path: Path) -> None:
    """Seed 000's V9 at 12×120×120 with 19 classes (939,604 parameters), multi-label."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = run_factory(
        tmp_path / "v9", "multispectral_v9", [f"c{i}" for i in range(19)], (12, 120, 120), ms_bands,
        [0.1] * 12, [0.05] * 12, scale=10000.0, task="multi_label",
    )  # fmt: skip
    assert sum(p.numel() for p in model.parameters()) == 939_604
    result = export_run(tmp_path / "v9", "onnx")
    assert max(result.max_abs_diff.values()) <= 1e-4
    assert _onnx_batch_dim(result.path) != ""
    meta = json.loads(result.sidecar.read_text())
    assert meta["task"] == "multi_label" and meta["thresholds"] == [0.5] * 19 and meta["bands"] == ms_bands
