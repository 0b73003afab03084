"""archlab explain: Grad-CAM overlays, target classes, attention rollout, inputs and RGB composites."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from torch import nn

from archlab.data.inputspec import InputSpec
from archlab.data.reader import read_input
from archlab.report.explainer import explain, load_trained, resolve_target
from archlab.report.images import rgb_indices, stretch
from archlab.report.saliency import attention_rollout, pick_target_layer

pytest.importorskip("pytorch_grad_cam", reason="the grad-cam package is not installed (pip install grad-cam)")


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def write_png(path, array: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(array.astype(np.uint8)).save(path)


def test_gradcam_overlays_and_index(make_run, tmp_path):
    run = make_run()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 8))
    write_png(tmp_path / "a.png", img)
    np.save(tmp_path / "b.npy", img[None].astype(np.float32))  # the same image in stored units (scale 255)
    paths = explain(run, [tmp_path / "a.png", tmp_path / "b.npy"], tmp_path / "out")
    index = json.loads((tmp_path / "out" / "explain.json").read_text())["images"]
    # the prediction, computed here independently: x/255, (x - 0.3)/0.4
    model = load_trained(run).model
    x = (torch.tensor(img, dtype=torch.float32)[None, None] / 255 - 0.3) / 0.4
    top = int(model(x).argmax())
    classes = ["zero", "one", "two", "three"]
    assert [e["predicted"] for e in index] == [classes[top]] * 2
    assert [e["target"] for e in index] == [classes[top]] * 2  # default target: the top class
    assert [p.name for p in paths] == [f"a_gradcam_{classes[top]}.png", f"b_gradcam_{classes[top]}.png"]
    assert all(e["layer"] == "features.4.0" for e in index)  # the last conv, 4×4 output
    w, h = png_size(paths[0])
    assert w > 300 and h > 200


@pytest.mark.parametrize("method", ["gradcam++", "eigencam", "scorecam"])
def test_cam_variants_and_chosen_target(make_run, tmp_path, method):
    run = make_run()
    write_png(tmp_path / "a.png", np.arange(64).reshape(8, 8) * 4)
    paths = explain(run, [tmp_path / "a.png"], tmp_path, method=method, target="two")
    tag = method.replace("+", "p")
    assert [p.name for p in paths] == [f"a_{tag}_two.png"]
    assert json.loads((tmp_path / "explain.json").read_text())["images"][0]["target"] == "two"


def test_resolve_target():
    classes = ["forest", "water", "urban"]
    assert resolve_target("water", classes) == 1
    assert resolve_target(2, classes) == 2
    assert resolve_target("0", classes) == 0
    assert resolve_target(None, classes) is None
    with pytest.raises(ValueError, match="did you mean water"):
        resolve_target("watr", classes)
    with pytest.raises(ValueError, match="not one of this model's 3 classes"):
        resolve_target(3, classes)


def test_target_layer_skips_convs_below_2x2():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),  # 8×8
        nn.Conv2d(4, 4, 3, stride=2, padding=1),  # 4×4
        nn.Conv2d(4, 4, 4),  # 1×1: too small for a CAM
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    name, module, reshape = pick_target_layer(model, (1, 8, 8))
    assert (name, module, reshape) == ("1", model[1], None)
    assert pick_target_layer(model, (1, 8, 8), "0")[0] == "0"
    with pytest.raises(ValueError, match="has no layer"):
        pick_target_layer(model, (1, 8, 8), "9")


def test_attention_rollout_by_hand():
    t = 3
    eye = torch.eye(t)[None]  # one head attending to itself: rollout is the identity
    assert torch.allclose(attention_rollout([eye, eye]), torch.eye(t))
    uniform = torch.full((2, t, t), 1 / t)  # two heads, uniform attention
    one = attention_rollout([uniform])
    assert torch.allclose(one, 0.5 * torch.eye(t) + 0.5 / t)  # ½A + ½I, rows already sum to 1
    a = torch.tensor([[[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]])
    b = torch.tensor([[[0.2, 0.2, 0.6], [0.3, 0.4, 0.3], [0.5, 0.25, 0.25]]])
    ha, hb = 0.5 * a[0] + 0.5 * torch.eye(t), 0.5 * b[0] + 0.5 * torch.eye(t)
    assert torch.allclose(attention_rollout([a, b]), hb @ ha)  # later blocks multiply on the left
    assert torch.allclose(attention_rollout([a, b]).sum(-1), torch.ones(t))


@pytest.mark.slow
def test_vit_attention_rollout_and_gradcam(make_run, tmp_path):
    kwargs = {"img_size": 32, "patch_size": 8, "depth": 2}
    run = make_run(
        model_name="vit_tiny_patch16_224", kwargs=kwargs, input_size=(3, 32, 32), classes=["a", "b", "c"]
    )
    write_png(tmp_path / "im.png", np.random.default_rng(1).integers(0, 256, (48, 40, 3)))
    for method in ("attention", "rollout", "gradcam"):
        (path,) = explain(run, [tmp_path / "im.png"], tmp_path / method, method=method)
        entry = json.loads((tmp_path / method / "explain.json").read_text())["images"][0]
        assert entry["layer"] == ("blocks.1.norm1" if method == "gradcam" else None)
        assert 0 <= entry["peak"][0] < 48 and 0 <= entry["peak"][1] < 40  # the map covers the original image
        assert png_size(path)[0] > 300


def test_multilabel_default_target_is_the_top_score(make_run, tmp_path):
    from report_fixtures import multilabel_history

    run = make_run(history=multilabel_history(), task="multi_label", results=False)
    write_png(tmp_path / "a.png", np.eye(8) * 255)
    explain(run, [tmp_path / "a.png"], tmp_path)
    entry = json.loads((tmp_path / "explain.json").read_text())["images"][0]
    model = load_trained(run).model
    x = (torch.eye(8)[None, None] - 0.3) / 0.4
    with torch.no_grad():
        scores = torch.sigmoid(model(x))[0]
    assert entry["target"] == ["zero", "one", "two", "three"][int(scores.argmax())]
    assert entry["score"] == pytest.approx(float(scores.max()), abs=1e-5)


def _spec(channels: int, scale: float) -> InputSpec:
    return InputSpec(input_size=(channels, 3, 4), classes=("a", "b"), scale=scale)


def test_read_image_orientation_and_units(tmp_path):
    """explain reads through the one reader: stored units, then the spec's ``x / scale``."""
    chw = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) * 100
    np.save(tmp_path / "chw.npy", chw)
    np.save(tmp_path / "hwc.npy", np.moveaxis(chw, 0, -1))
    spec = _spec(2, 10000.0)
    for name in ("chw.npy", "hwc.npy"):
        x = read_input(tmp_path / name, spec)
        assert torch.equal(x, torch.from_numpy(chw))
        assert torch.allclose(spec.preprocess(x), torch.from_numpy(chw) / 10000)
    with pytest.raises(ValueError, match="has 2 bands .* but the model expects 5"):
        read_input(tmp_path / "chw.npy", _spec(5, 1.0))
    write_png(tmp_path / "g.png", np.full((3, 4), 51))
    assert torch.allclose(_spec(1, 255.0).preprocess(read_input(tmp_path / "g.png", _spec(1, 255.0))),
                          torch.full((1, 3, 4), 0.2))  # fmt: skip
    with pytest.raises(ValueError, match="is an image with 1 band but the model expects 12"):
        read_input(tmp_path / "g.png", _spec(12, 10000.0))
    (tmp_path / "x.txt").write_text("no")
    with pytest.raises(ValueError, match="is not a supported file"):
        read_input(tmp_path / "x.txt", _spec(1, 1.0))
    with pytest.raises(FileNotFoundError):
        read_input(tmp_path / "missing.png", _spec(1, 1.0))


def test_rgb_composite_bands_and_stretch():
    s2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
    assert rgb_indices(s2, 12) == [3, 2, 1]  # B04, B03, B02
    assert rgb_indices(s2, 12, ["B08", "B04", "B03"]) == [7, 3, 2]  # false-colour infrared
    assert rgb_indices(["x", "y", "z", "w"], 4) == [0, 1, 2]
    assert rgb_indices(["gray"], 1) == [0, 0, 0]
    with pytest.raises(ValueError, match=r"not in this model's bands"):
        rgb_indices(s2, 12, ["B04", "B03", "B99"])
    band = np.arange(101, dtype=np.float64)  # percentiles 2 and 98 are 2 and 98
    out = stretch(band)
    assert out[2] == 0.0 and out[98] == 1.0 and out[50] == pytest.approx(48 / 96)


def test_multispectral_npy_with_band_names(make_run, tmp_path):
    bands = ["B02", "B03", "B04", "B08"]
    run = make_run(input_size=(4, 8, 8), bands=bands, mean=[0.1] * 4, std=[0.05] * 4)
    np.save(tmp_path / "tile.npy", np.random.default_rng(2).integers(0, 3000, (8, 8, 4)).astype(np.float32))
    (path,) = explain(run, [tmp_path / "tile.npy"], tmp_path, bands_rgb=["B08", "B04", "B03"])
    assert path.is_file()
    with pytest.raises(ValueError, match="not in this model's bands"):
        explain(run, [tmp_path / "tile.npy"], tmp_path, bands_rgb=["B05", "B04", "B03"])
    with pytest.raises(ValueError, match="unknown explain method 'gradcm'; did you mean gradcam"):
        explain(run, [tmp_path / "tile.npy"], tmp_path, method="gradcm")
    with pytest.raises(ValueError, match="needs a ViT with get_attention_maps"):
        explain(run, [tmp_path / "tile.npy"], tmp_path, method="rollout")


def test_explain_reads_like_predict_batches_and_convert(make_run, tmp_path):
    """The one reader's rules: a 4-D .npy is a batch, colour feeds a grey model only with convert."""
    run = make_run()
    imgs = np.random.default_rng(3).integers(0, 256, (2, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "pair.npy", imgs)
    paths = explain(run, [tmp_path / "pair.npy"], tmp_path / "out", method="eigencam")
    assert [p.name.split("_eigencam")[0] for p in paths] == ["pair_0", "pair_1"]
    index = json.loads((tmp_path / "out" / "explain.json").read_text())["images"]
    assert [e["image"] for e in index] == [f"{tmp_path / 'pair.npy'}[0]", f"{tmp_path / 'pair.npy'}[1]"]
    model = load_trained(run).model
    with torch.no_grad():
        top = model((torch.from_numpy(imgs) / 255 - 0.3) / 0.4).argmax(1).tolist()
    assert [e["predicted"] for e in index] == [["zero", "one", "two", "three"][t] for t in top]
    write_png(tmp_path / "c.png", np.random.default_rng(4).integers(0, 256, (8, 8, 3)))
    with pytest.raises(
        ValueError, match=r"is a colour image \(3 bands\) but the model expects 1 .*--convert"
    ):
        explain(run, [tmp_path / "c.png"], tmp_path / "out")
    (path,) = explain(run, [tmp_path / "c.png"], tmp_path / "out", method="eigencam", convert=True)
    assert path.name.startswith("c_eigencam_")
