"""The input specification through predict, export and explain: NaN refusal, old checkpoints, sidecars."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archlab.bench.export import export_run, load_exported, sidecar_path, sidecar_spec
from archlab.bench.predict import load_predictor, predict
from archlab.data.geotiff import write_geotiff
from archlab.data.inputspec import InputSpec
from archlab.rundir import load_checkpoint, restore


def _nan_cube(shape: tuple[int, ...], bad: int, seed: int = 0) -> np.ndarray:
    """Random values with ``bad`` of them NaN, +inf or -inf in turn, 7 positions apart."""
    cube = np.random.default_rng(seed).random(shape).astype(np.float32)
    for i in range(bad):
        cube.reshape(-1)[7 * i] = (np.nan, np.inf, -np.inf)[i % 3]
    return cube


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_predict_cli_refuses_non_finite_inputs(run_cli, ms_run, tmp_path: Path, suffix: str) -> None:
    run, _ = ms_run
    cube = _nan_cube((12, 16, 16), 3)
    path = tmp_path / f"x{suffix}"
    if suffix == ".npy":
        np.save(path, cube)
    else:
        write_geotiff(path, cube, pixel_size=10.0, origin=(0.0, 0.0), epsg=32633)
    res = run_cli("predict", str(run), str(path), "--device", "cpu")
    assert res.rc == 2 and res.out == ""
    assert res.err == (
        f"archlab: error: input {path} has 3 non-finite values (NaN or inf); "
        "clean the file or mask those pixels before predicting\n"
    )


def test_predict_refuses_a_nan_item_of_a_batch_before_predicting_anything(ms_run, tmp_path: Path) -> None:
    run, _ = ms_run
    good = np.random.default_rng(1).integers(0, 4000, (12, 16, 16)).astype(np.float32)
    np.save(tmp_path / "a_good.npy", good)
    np.save(tmp_path / "b_batch.npy", np.stack([good, _nan_cube((12, 16, 16), 5)]))
    with pytest.raises(ValueError, match=r"input .*b_batch\.npy has 5 non-finite values"):
        predict(run, [tmp_path], device="cpu")
    assert len(predict(run, [tmp_path / "a_good.npy"], device="cpu")["predictions"]) == 1


def test_explain_cli_refuses_non_finite_inputs(run_cli, digits_run, tmp_path: Path) -> None:
    run, _ = digits_run
    np.save(tmp_path / "x.npy", _nan_cube((1, 8, 8), 2))
    out = tmp_path / "explained"
    res = run_cli("explain", str(run), "--images", str(tmp_path / "x.npy"), "--out", str(out))
    assert res.rc == 2 and res.out == ""
    assert res.err == (
        f"archlab: error: input {tmp_path / 'x.npy'} has 2 non-finite values (NaN or inf); "
        "clean the file or mask those pixels before predicting\n"
    )
    assert not out.exists()  # refused before anything is written


def test_new_checkpoints_store_the_spec_once_and_old_ones_predict_the_same(
    run_factory, tmp_path: Path
) -> None:
    args = ("digits_cnn", [str(i) for i in range(10)], (1, 8, 8), ["gray"], [0.3], [0.4])
    run_factory(tmp_path / "new", *args, kwargs={"width": 8})
    run_factory(tmp_path / "old", *args, kwargs={"width": 8}, flat=True)
    new = load_checkpoint(tmp_path / "new" / "best.pt")
    assert new["input"]["classes"] == [str(i) for i in range(10)]
    assert not {"classes", "input_size", "bands", "mean", "std", "scale", "task"} & set(new)
    assert restore(tmp_path / "old").spec == restore(tmp_path / "new").spec
    img = np.random.default_rng(2).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "d.png")
    docs = [predict(tmp_path / k, [tmp_path / "d.png"], topk=10, device="cpu") for k in ("new", "old")]
    assert docs[0]["predictions"] == docs[1]["predictions"]


def test_sidecar_carries_the_spec_and_reads_back(ms_run) -> None:
    run, _ = ms_run
    result = export_run(run, "torchscript")
    meta = json.loads(result.sidecar.read_text())
    spec = restore(run).spec
    assert {k: meta[k] for k in spec.to_dict()} == spec.to_dict()
    assert sidecar_spec(meta, result.path) == spec
    p = load_predictor(result.path)
    assert (p.spec, p.name, p.source) == (spec, "digits_cnn", str(result.path))
    assert p.thresholds == [0.3 if i % 2 else 0.6 for i in range(19)]


def test_an_old_sidecar_without_normalize_still_loads(digits_run, tmp_path: Path) -> None:
    run, _ = digits_run
    result = export_run(run, "torchscript")
    meta = json.loads(result.sidecar.read_text())
    del meta["normalize"]  # sidecars of the first export version had no such key
    result.sidecar.write_text(json.dumps(meta))
    _, read = load_exported(result.path)
    assert sidecar_spec(read, result.path) == InputSpec(
        input_size=(1, 8, 8),
        classes=tuple(str(i) for i in range(10)),
        bands=("gray",),
        mean=(0.3,),
        std=(0.4,),
    )
    del meta["classes"]
    sidecar_path(result.path).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="sidecar model.torchscript.pt.json lacks classes; re-export it"):
        load_predictor(result.path)
