"""archlab predict: reading each input kind, normalisation, top-k / multi-label output, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from archlab.bench.predict import collect_inputs, predict, render_predictions


def _reference_probs(
    model: torch.nn.Module, chw: np.ndarray, scale: float, mean, std, sigmoid: bool
) -> np.ndarray:
    x = torch.from_numpy(chw.astype(np.float32))[None] / scale
    x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    with torch.no_grad():
        z = model(x).double()[0]
    return (torch.sigmoid(z) if sigmoid else torch.softmax(z, 0)).numpy()


def _digit(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)


def test_png_top_k_matches_a_direct_computation(digits_run, tmp_path: Path) -> None:
    run, model = digits_run
    img = _digit(0)
    Image.fromarray(img).save(tmp_path / "a.png")
    doc = predict(run, [tmp_path / "a.png"], topk=3, device="cpu")
    assert (doc["model"], doc["task"], doc["classes"], doc["input_size"]) == (
        "digits_cnn",
        "single_label",
        10,
        [1, 8, 8],
    )
    (p,) = doc["predictions"]
    ref = _reference_probs(model, img[None], 255.0, [0.3], [0.4], sigmoid=False)
    order = np.argsort(-ref)[:3]
    assert [t["index"] for t in p["top"]] == order.tolist()
    assert [t["class"] for t in p["top"]] == [str(i) for i in order]
    assert [t["prob"] for t in p["top"]] == pytest.approx(ref[order].tolist(), abs=1e-6)
    # topk larger than the class count shows every class, probabilities summing to one.
    (p,) = predict(run, [tmp_path / "a.png"], topk=50, device="cpu")["predictions"]
    assert len(p["top"]) == 10 and sum(t["prob"] for t in p["top"]) == pytest.approx(1.0)


def test_folders_recursive_sorted_and_every_array_layout_agrees(digits_run, tmp_path: Path) -> None:
    import tifffile

    run, _ = digits_run
    img = _digit(1)
    (tmp_path / "in" / "a").mkdir(parents=True)
    np.save(tmp_path / "in" / "a" / "hw.npy", img)  # H×W: one band
    np.save(tmp_path / "in" / "chw.npy", img[None])
    np.save(tmp_path / "in" / "hwc.npy", img[:, :, None])
    np.save(tmp_path / "in" / "batch.npy", np.stack([img[None], _digit(2)[None]]))  # N×C×H×W
    tifffile.imwrite(tmp_path / "in" / "t.tif", img)
    Image.fromarray(img).save(tmp_path / "in" / "b.png")
    (tmp_path / "in" / "notes.txt").write_text("not an input")
    doc = predict(run, [tmp_path / "in"], topk=10, device="cpu")
    labels = [Path(p["input"]).relative_to(tmp_path / "in").as_posix() for p in doc["predictions"]]
    assert labels == ["a/hw.npy", "b.png", "batch.npy[0]", "batch.npy[1]", "chw.npy", "hwc.npy", "t.tif"]
    probs = {lab: [t["prob"] for t in p["top"]] for lab, p in zip(labels, doc["predictions"])}
    for lab in ("a/hw.npy", "b.png", "batch.npy[0]", "chw.npy", "hwc.npy", "t.tif"):
        assert probs[lab] == pytest.approx(probs["chw.npy"], abs=1e-6)
    assert probs["batch.npy[1]"] != pytest.approx(probs["chw.npy"], abs=1e-6)


def test_multispectral_multi_label_set_and_geotiff_layouts(ms_run, tmp_path: Path) -> None:
    import tifffile

    run, model = ms_run
    cube = np.random.default_rng(3).integers(0, 4000, (12, 16, 16)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "first.tif", cube)
    tifffile.imwrite(tmp_path / "last.tif", cube.transpose(1, 2, 0))
    doc = predict(run, [tmp_path / "first.tif", tmp_path / "last.tif"], device="cpu")
    mean = [0.1 + 0.01 * i for i in range(12)]
    std = [0.05 + 0.01 * i for i in range(12)]
    scores = _reference_probs(model, cube, 10000.0, mean, std, sigmoid=True)
    thresholds = np.array([0.3 if i % 2 else 0.6 for i in range(19)])
    expected = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= thresholds[i]]
    assert 0 < len(expected) < 19  # the case is informative: some classes in, some out
    for p in doc["predictions"]:
        assert [x["index"] for x in p["labels"]] == expected
        assert [x["score"] for x in p["labels"]] == pytest.approx(scores[expected].tolist(), abs=1e-6)
        assert [x["threshold"] for x in p["labels"]] == thresholds[expected].tolist()
        assert list(p["scores"]) == [f"class{i:02d}" for i in range(19)]
    text = render_predictions(doc).splitlines()
    assert text[0].startswith(f"{tmp_path / 'first.tif'}: class{expected[0]:02d} ")


def test_wrong_band_count_is_one_line_naming_the_bands(ms_run, tmp_path: Path) -> None:
    run, _ = ms_run
    np.save(tmp_path / "x.npy", np.zeros((3, 16, 16), np.float32))
    with pytest.raises(ValueError) as info:
        predict(run, [tmp_path / "x.npy"], device="cpu")
    msg = str(info.value)
    assert msg.startswith(f"input {tmp_path / 'x.npy'} has 3 bands (shape (3, 16, 16)) but the model expects 12 "
                          "(B01, B02, B03, B04, B05, B06, B07, B08, B8A, B09, B11, B12)")  # fmt: skip
    assert "\n" not in msg
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(
        ValueError, match="is an image with 3 bands but the model expects 12 .*GeoTIFF with 12 bands"
    ):
        predict(run, [tmp_path / "rgb.png"], device="cpu")


def test_wrong_size_errors_unless_resizing_is_allowed(ms_run, tmp_path: Path) -> None:
    run, model = ms_run
    cube = np.random.default_rng(4).integers(0, 4000, (12, 8, 8)).astype(np.float32)
    np.save(tmp_path / "small.npy", cube)
    with pytest.raises(ValueError) as info:
        predict(run, [tmp_path / "small.npy"], device="cpu")
    assert str(info.value) == (
        f"input {tmp_path / 'small.npy'} is 8×8 but the model expects 16×16; "
        "resize it to 16×16 or pass --allow-resize (bilinear)"
    )
    (p,) = predict(run, [tmp_path / "small.npy"], allow_resize=True, device="cpu")["predictions"]
    big = F.interpolate(torch.from_numpy(cube)[None], size=(16, 16), mode="bilinear", align_corners=False)[0]
    mean = [0.1 + 0.01 * i for i in range(12)]
    std = [0.05 + 0.01 * i for i in range(12)]
    scores = _reference_probs(model, big.numpy(), 10000.0, mean, std, sigmoid=True)
    assert list(p["scores"].values()) == pytest.approx(scores.tolist(), abs=1e-6)


def test_colour_image_needs_convert_for_a_grey_model(digits_run, tmp_path: Path) -> None:
    run, model = digits_run
    rgb = np.random.default_rng(5).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with pytest.raises(
        ValueError, match=r"is a colour image \(3 bands\) but the model expects 1 \(gray\); pass --convert"
    ):
        predict(run, [tmp_path / "c.png"], device="cpu")
    (p,) = predict(run, [tmp_path / "c.png"], convert=True, topk=10, device="cpu")["predictions"]
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    ref = _reference_probs(model, grey[None], 255.0, [0.3], [0.4], sigmoid=False)
    assert {t["index"]: t["prob"] for t in p["top"]} == pytest.approx(dict(enumerate(ref.tolist())), abs=1e-6)


def test_input_errors(digits_run, tmp_path: Path) -> None:
    run, _ = digits_run
    with pytest.raises(FileNotFoundError, match="not found"):
        collect_inputs([tmp_path / "missing.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no inputs"):
        collect_inputs([tmp_path / "empty"])
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="is not a supported file"):
        collect_inputs([tmp_path / "a.txt"])
    np.save(tmp_path / "five.npy", np.zeros((1, 1, 1, 8, 8)))
    with pytest.raises(
        ValueError, match=r"has shape \(1, 1, 1, 8, 8\); expected H×W, C×H×W or H×W×C with C = 1"
    ):
        predict(run, [tmp_path / "five.npy"], device="cpu")


def test_exported_file_predicts_like_the_run(digits_run, tmp_path: Path) -> None:
    from archlab.bench.export import export_run

    run, _ = digits_run
    Image.fromarray(_digit(6)).save(tmp_path / "d.png")
    result = export_run(run, "torchscript")
    from_run = predict(run, [tmp_path / "d.png"], topk=4, device="cpu")["predictions"]
    from_file = predict(result.path, [tmp_path / "d.png"], topk=4)["predictions"]
    assert [t["index"] for t in from_file[0]["top"]] == [t["index"] for t in from_run[0]["top"]]
    assert [t["prob"] for t in from_file[0]["top"]] == pytest.approx(
        [t["prob"] for t in from_run[0]["top"]], abs=1e-6
    )


def test_predict_cli_json_and_text(
    bench_cli, digits_run, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run, _ = digits_run
    Image.fromarray(_digit(7)).save(tmp_path / "d.png")
    assert (
        bench_cli("predict", str(run), str(tmp_path / "d.png"), "--json", "-k", "2", "--device", "cpu") == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["task"] == "single_label" and len(doc["predictions"][0]["top"]) == 2
    assert bench_cli("predict", str(run), str(tmp_path / "d.png"), "-k", "2", "--device", "cpu") == 0
    (line,) = capsys.readouterr().out.splitlines()
    top = doc["predictions"][0]["top"]
    assert (
        line
        == f"{tmp_path / 'd.png'}: {top[0]['class']} ({top[0]['prob']:.3f}), {top[1]['class']} ({top[1]['prob']:.3f})"
    )
