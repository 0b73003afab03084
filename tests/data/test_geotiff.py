"""GeoTIFF reading/writing with tifffile, nearest upsampling to the 10 m grid, band selection, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from archlab.data.geotiff import (
    MissingSampleFile,
    SampleError,
    build_split,
    read_band,
    read_georeference,
    read_geotiff,
    select_bands,
    to_uint16,
    upsample_nearest,
    write_geotiff,
)

S2 = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")


# ---- resampling ------------------------------------------------------------------------------------


def test_upsample_nearest_hand_made_2x2() -> None:
    a = np.array([[1, 2], [3, 4]], dtype=np.uint16)
    expected = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]], dtype=np.uint16)
    out = upsample_nearest(a, 4)
    assert out.dtype == np.uint16 and np.array_equal(out, expected)


def reproject_nearest(src: np.ndarray, src_pixel: float, dst_pixel: float, dst_size: int) -> np.ndarray:
    """rasterio-style nearest reprojection between grids sharing an upper-left corner (no rasterio here).

    Each destination pixel takes the source pixel that contains the destination pixel's centre.
    """
    centres = (np.arange(dst_size) + 0.5) * dst_pixel  # metres from the shared corner
    idx = np.floor(centres / src_pixel).astype(int)
    return src[np.ix_(idx, idx)]


@pytest.mark.parametrize(("side", "pixel"), [(60, 20.0), (20, 60.0)])
def test_upsample_equals_reprojection_with_nearest_on_aligned_grids(side: int, pixel: float) -> None:
    """The 20 m (60 px) and 60 m (20 px) bands: integer repetition = centre-sampling reprojection to 10 m."""
    rng = np.random.default_rng(0)
    band = rng.integers(0, 10_000, (side, side), dtype=np.uint16)
    out = upsample_nearest(band, 120)
    assert out.shape == (120, 120)
    assert np.array_equal(out, reproject_nearest(band, pixel, 10.0, 120))
    k = 120 // side
    assert out[k - 1, k - 1] == band[0, 0] and out[k, k] == band[1, 1]


def test_upsample_identity_and_non_integer_factor() -> None:
    a = np.arange(16, dtype=np.uint16).reshape(4, 4)
    assert upsample_nearest(a, 4) is a
    with pytest.raises(ValueError, match="divides 120"):
        upsample_nearest(np.zeros((50, 50), np.uint16), 120)


# ---- writing and reading ---------------------------------------------------------------------------


def test_single_band_round_trip_with_georeference(tmp_path: Path) -> None:
    band = np.arange(60 * 60, dtype=np.uint16).reshape(60, 60)
    path = tmp_path / "b05.tif"
    write_geotiff(path, band, pixel_size=20.0, origin=(500_000.0, 5_000_000.0), epsg=32633, nodata=0)
    arr = read_geotiff(path)
    assert arr.shape == (1, 60, 60) and arr.dtype == np.uint16 and np.array_equal(arr[0], band)
    geo = read_georeference(path)
    assert geo == {"pixel_size": (20.0, 20.0), "origin": (500_000.0, 5_000_000.0), "epsg": 32633}


@pytest.mark.parametrize("interleave", ["pixel", "band"])
def test_multiband_round_trip_is_band_first(tmp_path: Path, interleave: str) -> None:
    import tifffile

    data = np.random.default_rng(1).integers(0, 5000, (13, 64, 64), dtype=np.uint16)
    path = tmp_path / "m.tif"
    write_geotiff(path, data, pixel_size=10.0, origin=(0.0, 0.0), epsg=32632, interleave=interleave)
    with tifffile.TiffFile(path) as tif:  # the layout on disk is what was asked for
        assert tif.series[0].axes == ("YXS" if interleave == "pixel" else "SYX")
    assert np.array_equal(read_geotiff(path), data)


def test_multipage_file_reads_band_first(tmp_path: Path) -> None:
    import tifffile

    data = np.random.default_rng(2).integers(0, 5000, (3, 8, 8), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "pages.tif", data, photometric="minisblack", metadata=None)
    assert np.array_equal(read_geotiff(tmp_path / "pages.tif"), data)


def test_read_band_upsamples_native_and_rejects_wrong_size(tmp_path: Path) -> None:
    band = np.arange(400, dtype=np.uint16).reshape(20, 20)
    write_geotiff(tmp_path / "b01.tif", band, pixel_size=60.0, origin=(0.0, 0.0), epsg=32633)
    out = read_band(tmp_path / "b01.tif", 120, 20)
    assert out.shape == (120, 120) and np.array_equal(out[::6, ::6], band)
    with pytest.raises(SampleError, match=r"b01\.tif: band has size 20x20, expected 60x60"):
        read_band(tmp_path / "b01.tif", 120, 60)


# ---- bad files -------------------------------------------------------------------------------------


def test_missing_file_is_file_not_found_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        read_geotiff(tmp_path / "nope.tif")
    assert isinstance(info.value, MissingSampleFile) and isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"{tmp_path / 'nope.tif'}: file not found")
    assert info.value.record == f"{tmp_path / 'nope.tif'}: file not found"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_file_raises_naming_it(tmp_path: Path, keep: float) -> None:
    """Cut inside the pixel data (single strip or the last of many 2-row strips): never zero-filled pixels."""
    data = np.random.default_rng(3).integers(1, 5000, (12, 120, 120), dtype=np.uint16)
    path = tmp_path / "stack.tif"
    write_geotiff(path, data, pixel_size=10.0, origin=(0.0, 0.0), epsg=32633, rows_per_strip=2)
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(SampleError, match=r"stack\.tif: truncated file: image data ends at byte") as info:
        read_geotiff(path)
    assert "\n" not in str(info.value)


def test_garbage_file_raises_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "junk.tif"
    path.write_bytes(b"this is not a tiff" * 10)
    with pytest.raises(SampleError, match=r"junk\.tif: not a readable GeoTIFF"):
        read_geotiff(path)


def test_to_uint16_refuses_lossy_conversions() -> None:
    assert to_uint16(np.array([0, 65535], np.int32), "f").dtype == np.uint16
    with pytest.raises(SampleError, match="values -1..3 do not fit uint16"):
        to_uint16(np.array([-1, 3], np.int32), "f.tif")
    with pytest.raises(SampleError, match="found dtype float32"):
        to_uint16(np.array([0.5], np.float32), "f.tif")


# ---- band selection --------------------------------------------------------------------------------


def test_select_bands_order_aliases_and_errors() -> None:
    assert select_bands(None, S2, "BigEarthNet-S2") == list(S2)
    assert select_bands(["B04", "b03", "B02", "B08A"], S2, "BigEarthNet-S2") == ["B04", "B03", "B02", "B8A"]
    with pytest.raises(ValueError) as info:
        select_bands(["B02", "B10"], S2, "BigEarthNet-S2")
    msg = str(info.value)
    assert "unknown band 'B10'" in msg and "B01, B02, B03, B04, B05, B06, B07, B08, B8A, B09, B11, B12" in msg
    assert "\n" not in msg
    with pytest.raises(ValueError, match="B02 more than once"):
        select_bands(["B02", "B02"], S2, "BigEarthNet-S2")


# ---- splits: in memory vs streamed ------------------------------------------------------------------


def _reader(source: int) -> np.ndarray:
    if source == 2:
        raise SampleError(f"sample{source}.tif", "corrupt")
    return np.full((2, 3, 3), source, dtype=np.uint16)


def test_build_split_memory_and_streaming_agree_and_skip() -> None:
    targets = torch.arange(4)
    mem, skipped_mem = build_split(
        [0, 1, 2, 3], targets, _reader, in_memory=True, on_error="skip", what="train"
    )
    stream, skipped_stream = build_split(
        [0, 1, 2, 3], targets, _reader, in_memory=False, on_error="skip", what="train"
    )
    assert skipped_mem == skipped_stream == ["sample2.tif: corrupt"]
    assert len(mem) == len(stream) == 3 and mem.x.dtype == torch.uint16
    for i in range(3):
        x, y = stream[i]
        assert torch.equal(x, mem.x[i]) and int(y) == int(mem.y[i])
    assert mem.y.tolist() == [0, 1, 3]
    with pytest.raises(SampleError, match="sample2.tif: corrupt"):
        build_split([0, 1, 2, 3], targets, _reader, in_memory=True, on_error="raise", what="train")
    lazy, _ = build_split([0, 1, 2, 3], targets, _reader, in_memory=False, on_error="raise", what="train")
    assert len(lazy) == 4  # streaming under raise reads lazily: the bad sample raises when reached
    with pytest.raises(SampleError):
        lazy[2]


def test_sample_of_another_shape_is_a_bad_sample() -> None:
    def reader(source: int) -> np.ndarray:
        return np.zeros((2, 4, 4) if source != 1 else (2, 5, 5), dtype=np.uint16)

    split, skipped = build_split(
        [0, 1, 2], torch.arange(3), reader, in_memory=True, on_error="skip", what="test"
    )
    assert len(split) == 2 and split.y.tolist() == [0, 2]
    assert skipped == ["1: image shape (2, 5, 5) differs from the split's (2, 4, 4)"]
