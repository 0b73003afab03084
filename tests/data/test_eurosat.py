"""EuroSAT MS read from a fixture in the real layout: 13-band 64×64 GeoTIFFs in class folders, B8A stored last."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from archlab.config import DataConfig
from archlab.data import TensorSplit, load_dataset
from archlab.data.eurosat import (
    EUROSAT_BANDS,
    EUROSAT_CLASSES,
    EUROSAT_FILE_BANDS,
    EUROSAT_MEAN,
    EUROSAT_STD,
    _natural_key,
)
from archlab.data.fixtures import write_eurosat_ms
from archlab.data.geotiff import write_geotiff

PER_CLASS = 3


@pytest.fixture(scope="session")
def es_root(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("eurosat")
    return root, write_eurosat_ms(root, PER_CLASS, seed=0)


@pytest.fixture(scope="session")
def es_data(es_root):
    return load_dataset(cfg(es_root[0]))


def cfg(root: Path, **kw) -> DataConfig:
    kw.setdefault("test_split", 0.5)  # 15 test images: enough for one per class, so the split is stratified
    return DataConfig(name="eurosat_ms", root=str(root), **kw)


def test_file_band_order_puts_b8a_last() -> None:
    assert EUROSAT_FILE_BANDS[8:] == ("B09", "B10", "B11", "B12", "B8A") and sorted(
        EUROSAT_FILE_BANDS
    ) == sorted(EUROSAT_BANDS)
    assert EUROSAT_BANDS.index("B8A") == EUROSAT_BANDS.index("B08") + 1
    assert EUROSAT_MEAN["B10"] == 12.11327804 and EUROSAT_STD["B8A"] == 1231.58581042  # torchgeo's constants


def test_fixture_layout(es_root) -> None:
    import tifffile

    root, fx = es_root
    assert sorted(p.name for p in root.iterdir()) == sorted(EUROSAT_CLASSES)
    assert sorted(p.name for p in (root / "Forest").iterdir()) == [
        "Forest_1.tif",
        "Forest_2.tif",
        "Forest_3.tif",
    ]
    with tifffile.TiffFile(root / "Forest" / "Forest_1.tif") as tif:
        assert tif.series[0].shape == (64, 64, 13) and tif.series[0].dtype == np.uint16
        assert tif.pages[0].geotiff_tags["ModelPixelScale"][:2] == [10.0, 10.0]


def test_split_sizes_targets_and_metadata(es_root, es_data) -> None:
    ds = es_data
    assert (len(ds.train), len(ds.test)) == (15, 15) and ds.val is None
    assert ds.train.x.shape == (15, 13, 64, 64) and ds.train.x.dtype == torch.uint16
    assert ds.train.y.dtype == torch.int64 and ds.task == "single_label" and ds.scale == 1.0
    assert ds.classes == list(EUROSAT_CLASSES) and ds.bands == list(EUROSAT_BANDS)
    assert ds.mean == [EUROSAT_MEAN[b] for b in EUROSAT_BANDS]
    counts = torch.bincount(torch.cat([ds.train.y, ds.test.y]), minlength=10)
    assert counts.tolist() == [PER_CLASS] * 10
    assert (torch.bincount(ds.test.y, minlength=10) >= 1).all()  # stratified


def test_channels_follow_band_names_not_file_positions(es_root, es_data) -> None:
    """Channel 'B8A' is the file's 13th band; channel 'B09' is its 9th."""
    import tifffile

    root, _ = es_root
    images = {}
    for name in EUROSAT_CLASSES:
        for p in (root / name).iterdir():
            images[tifffile.imread(p).tobytes()] = tifffile.imread(p)
    found = 0
    for x in es_data.train.x:
        file_order = x[[EUROSAT_BANDS.index(b) for b in EUROSAT_FILE_BANDS]].permute(1, 2, 0).numpy()
        raw = images.get(np.ascontiguousarray(file_order).tobytes())
        found += raw is not None
        assert raw is not None and np.array_equal(x[8].numpy(), raw[:, :, 12])
    assert found == 15


def test_streaming_identical_and_band_subset(es_root, es_data) -> None:
    stream = load_dataset(cfg(es_root[0], in_memory=False))
    assert not isinstance(stream.train, TensorSplit)
    for i in range(len(es_data.test)):
        x, y = stream.test[i]
        assert torch.equal(x, es_data.test.x[i]) and int(y) == int(es_data.test.y[i])
    sub = load_dataset(cfg(es_root[0], bands=["B8A", "B04"]))
    assert torch.equal(sub.train.x, es_data.train.x[:, [8, 3]])
    assert sub.std == [EUROSAT_STD["B8A"], EUROSAT_STD["B04"]]


def test_default_split_falls_back_to_random_when_too_small_to_stratify(es_root) -> None:
    ds = load_dataset(cfg(es_root[0], test_split=0.2))  # 6 test images < 10 classes
    assert (len(ds.train), len(ds.test)) == (24, 6)
    assert Counter(torch.cat([ds.train.y, ds.test.y]).tolist()) == dict.fromkeys(range(10), PER_CLASS)


def test_archive_subfolder_and_missing_class(es_root, tmp_path: Path) -> None:
    shutil.copytree(es_root[0], tmp_path / "EuroSAT_MS")
    assert len(load_dataset(cfg(tmp_path)).train) == 15
    shutil.rmtree(tmp_path / "EuroSAT_MS" / "River")
    with pytest.raises(FileNotFoundError, match="lacks class folder.* River"):
        load_dataset(cfg(tmp_path))


def test_bad_images_raise_or_are_skipped(es_root, tmp_path: Path) -> None:
    root = tmp_path / "es"
    shutil.copytree(es_root[0], root)
    small = root / "Pasture" / "Pasture_2.tif"
    write_geotiff(small, np.ones((13, 32, 32), np.uint16), pixel_size=10.0, origin=(0.0, 0.0), epsg=32632)
    twelve = root / "River" / "River_1.tif"
    write_geotiff(twelve, np.ones((12, 64, 64), np.uint16), pixel_size=10.0, origin=(0.0, 0.0), epsg=32632)
    broken = root / "SeaLake" / "SeaLake_3.tif"
    broken.write_bytes(broken.read_bytes()[:5000])
    with pytest.raises(
        ValueError, match=r"(Pasture_2|River_1|SeaLake_3)\.tif: .*data\.on_error=skip"
    ) as info:
        load_dataset(cfg(root))
    assert "\n" not in str(info.value)
    for in_memory in (True, False):
        ds = load_dataset(cfg(root, on_error="skip", in_memory=in_memory))
        assert len(ds.train) + len(ds.test) == 27 and len(ds.skipped) == 3
        assert {s.split(": ")[0] for s in ds.skipped} == {str(small), str(twelve), str(broken)}
        expected = f"{small}: image has shape 13x32x32 (bands x H x W), expected 13x64x64 (bands B01, B02"
        assert any(s.startswith(expected) for s in ds.skipped)
        assert any("12x64x64" in s for s in ds.skipped) and any("truncated" in s for s in ds.skipped)


def test_natural_file_order() -> None:
    names = [Path(f"Forest_{i}.tif") for i in (10, 2, 1, 11)]
    assert [p.name for p in sorted(names, key=_natural_key)] == [
        "Forest_1.tif", "Forest_2.tif", "Forest_10.tif", "Forest_11.tif"
    ]  # fmt: skip


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="EuroSAT MS not found under .*AnnualCrop/AnnualCrop_1.tif"):
        load_dataset(cfg(tmp_path))
