"""The one input reader: images, .npy and GeoTIFF layouts in stored units, conversion, size, NaN refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from archlab.data.geotiff import write_geotiff
from archlab.data.inputspec import InputSpec
from archlab.data.reader import collect_inputs, fit_size, read_input, read_inputs


def spec(c: int, h: int = 6, w: int = 5, bands: tuple[str, ...] = ()) -> InputSpec:
    return InputSpec(input_size=(c, h, w), classes=("a", "b"), bands=bands, scale=255.0)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_png_grey_and_colour_in_stored_units(tmp_path: Path) -> None:
    grey = rng().integers(0, 256, (6, 5), dtype=np.uint8)
    rgb = rng(1).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(np.dstack([rgb, np.full((6, 5), 7, np.uint8)])).save(tmp_path / "rgba.png")
    x = read_input(tmp_path / "g.png", spec(1))
    assert x.dtype == torch.float32 and torch.equal(x, torch.from_numpy(grey).float()[None])
    assert torch.equal(
        read_input(tmp_path / "c.png", spec(3)), torch.from_numpy(rgb).float().permute(2, 0, 1)
    )
    assert torch.equal(read_input(tmp_path / "rgba.png", spec(3)), read_input(tmp_path / "c.png", spec(3)))
    (item,) = read_inputs(tmp_path / "c.png", spec(3))
    assert item.eight_bit and item.index is None and item.label == str(tmp_path / "c.png")


def test_jpeg_grey_and_colour(tmp_path: Path) -> None:
    rgb = np.zeros((6, 5, 3), np.uint8)
    rgb[..., 0] = 200  # a flat red survives JPEG within a few levels
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.jpeg", quality=95)
    x = read_input(tmp_path / "c.jpg", spec(3))
    assert x.shape == (3, 6, 5) and abs(float(x[0].mean()) - 200) < 3 and float(x[1:].max()) < 6
    g = read_input(tmp_path / "g.jpeg", spec(1))
    assert g.shape == (1, 6, 5) and abs(float(g.mean()) - 200) < 3


def test_grey_colour_conversion_only_when_asked(tmp_path: Path) -> None:
    rgb = rng(2).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(rgb[..., 1]).save(tmp_path / "g.png")
    with pytest.raises(ValueError) as info:
        read_input(tmp_path / "c.png", spec(1, bands=("gray",)))
    assert str(info.value) == (
        f"input {tmp_path / 'c.png'} is a colour image (3 bands) but the model expects 1 (gray); "
        "pass --convert to convert it"
    )
    with pytest.raises(ValueError, match=r"is a grey image \(1 band\) but the model expects 3"):
        read_input(tmp_path / "g.png", spec(3))
    grey = np.asarray(Image.fromarray(rgb).convert("L"), np.float32)
    assert torch.equal(read_input(tmp_path / "c.png", spec(1), convert=True), torch.from_numpy(grey)[None])
    rgb_of_grey = read_input(tmp_path / "g.png", spec(3), convert=True)
    assert torch.equal(rgb_of_grey, torch.from_numpy(rgb[..., 1]).float().expand(3, 6, 5))
    with pytest.raises(
        ValueError, match="is an image with 3 bands but the model expects 4 .*GeoTIFF with 4 bands"
    ):
        read_input(tmp_path / "c.png", spec(4), convert=True)


def test_npy_layouts_and_batches(tmp_path: Path) -> None:
    cube = rng(3).integers(0, 4000, (4, 6, 5)).astype(np.uint16)
    np.save(tmp_path / "chw.npy", cube)
    np.save(tmp_path / "hwc.npy", cube.transpose(1, 2, 0))
    np.save(tmp_path / "hw.npy", cube[0])
    np.save(tmp_path / "batch.npy", np.stack([cube, cube[::-1]]))
    want = torch.from_numpy(cube.astype(np.float32))
    assert torch.equal(read_input(tmp_path / "chw.npy", spec(4)), want)
    assert torch.equal(read_input(tmp_path / "hwc.npy", spec(4)), want)
    assert torch.equal(read_input(tmp_path / "hw.npy", spec(1)), want[:1])
    batch = read_inputs(tmp_path / "batch.npy", spec(4))
    assert [b.label for b in batch] == [f"{tmp_path / 'batch.npy'}[0]", f"{tmp_path / 'batch.npy'}[1]"]
    assert [b.index for b in batch] == [0, 1] and torch.equal(batch[1].x, want.flip(0))
    assert read_input(tmp_path / "batch.npy", spec(4)).shape == (2, 4, 6, 5)
    # 6 bands first and last: the first axis wins.
    square = rng(4).random((6, 6, 6)).astype(np.float32)
    np.save(tmp_path / "both.npy", square)
    assert torch.equal(read_input(tmp_path / "both.npy", spec(6, 6, 6)), torch.from_numpy(square))


def test_npy_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((3, 6, 5), np.float32))
    with pytest.raises(ValueError) as info:
        read_input(tmp_path / "x.npy", spec(4, bands=("B02", "B03", "B04", "B08")))
    assert str(info.value) == (
        f"input {tmp_path / 'x.npy'} has 3 bands (shape (3, 6, 5)) but the model expects 4 "
        "(B02, B03, B04, B08); pass C×H×W or H×W×C with C = 4"
    )
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(ValueError, match="holds <U1 values; expected a numeric array"):
        read_input(tmp_path / "s.npy", spec(1))
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"is not a plain numeric \.npy array"):
        read_input(tmp_path / "o.npy", spec(1))
    np.save(tmp_path / "empty.npy", np.zeros((0, 1, 6, 5), np.float32))
    with pytest.raises(ValueError, match="is an empty batch"):
        read_input(tmp_path / "empty.npy", spec(1))


@pytest.mark.parametrize("interleave", ["pixel", "band"])
def test_geotiff_through_the_datasets_reader(tmp_path: Path, interleave: str) -> None:
    cube = rng(5).integers(0, 10000, (4, 6, 5)).astype(np.uint16)
    path = tmp_path / f"{interleave}.tif"
    write_geotiff(
        path, cube, pixel_size=10.0, origin=(500000.0, 5000000.0), epsg=32633, interleave=interleave
    )
    assert torch.equal(read_input(path, spec(4)), torch.from_numpy(cube.astype(np.float32)))
    write_geotiff(tmp_path / "one.tiff", cube[2], pixel_size=10.0, origin=(0.0, 0.0), epsg=32633)
    assert torch.equal(
        read_input(tmp_path / "one.tiff", spec(1)), torch.from_numpy(cube[2:3].astype(np.float32))
    )


def test_a_damaged_geotiff_is_one_line(tmp_path: Path) -> None:
    cube = np.ones((4, 6, 5), np.uint16)
    path = tmp_path / "cut.tif"
    write_geotiff(path, cube, pixel_size=10.0, origin=(0.0, 0.0), epsg=32633)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError) as info:
        read_input(path, spec(4))
    msg = str(info.value)
    assert msg.startswith(f"input {path}: truncated file") and "on_error" not in msg and "\n" not in msg


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_nan_and_inf_are_refused_naming_the_file_and_count(tmp_path: Path, suffix: str) -> None:
    cube = rng(6).random((4, 6, 5)).astype(np.float32)
    cube[0, 0, 0], cube[1, 2, 3], cube[3, 5, 4] = np.nan, np.inf, -np.inf
    path = tmp_path / f"bad{suffix}"
    if suffix == ".npy":
        np.save(path, cube)
    else:
        write_geotiff(path, cube, pixel_size=10.0, origin=(0.0, 0.0), epsg=32633)
    with pytest.raises(ValueError) as info:
        read_input(path, spec(4))
    assert str(info.value) == (
        f"input {path} has 3 non-finite values (NaN or inf); "
        "clean the file or mask those pixels before predicting"
    )
    np.save(tmp_path / "one.npy", np.where(np.arange(30).reshape(1, 6, 5) == 7, np.nan, 1.0))
    with pytest.raises(ValueError, match="has 1 non-finite value \\(NaN or inf\\)"):
        read_input(tmp_path / "one.npy", spec(1))


def test_size_must_match_unless_resizing_is_allowed(tmp_path: Path) -> None:
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    with pytest.raises(ValueError) as info:
        fit_size(x, "t.npy", spec(2), allow_resize=False)
    assert str(info.value) == (
        "input t.npy is 3×4 but the model expects 6×5; resize it to 6×5 or pass --allow-resize (bilinear)"
    )
    big = fit_size(x, "t.npy", spec(2), allow_resize=True)
    ref = torch.nn.functional.interpolate(x[None], size=(6, 5), mode="bilinear", align_corners=False)[0]
    assert big.shape == (2, 6, 5) and torch.equal(big, ref)
    const = torch.full((1, 12, 10), 9.0)
    assert torch.allclose(fit_size(const, "c", spec(1), allow_resize=True), torch.full((1, 6, 5), 9.0))
    assert fit_size(x, "same", spec(2, 3, 4), allow_resize=False) is x


def test_collect_inputs(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("sub/z.png", "b.TIF", "a.npy"):
        (tmp_path / "in" / name).write_bytes(b"")
    (tmp_path / "in" / "notes.txt").write_text("skip me")
    found = collect_inputs([tmp_path / "in" / "a.npy", tmp_path / "in"])
    assert [p.relative_to(tmp_path / "in").as_posix() for p in found] == [
        "a.npy",
        "a.npy",
        "b.TIF",
        "sub/z.png",
    ]
    with pytest.raises(ValueError, match="no inputs given"):
        collect_inputs([])
    with pytest.raises(ValueError, match="is not a supported file"):
        collect_inputs([tmp_path / "in" / "notes.txt"])
