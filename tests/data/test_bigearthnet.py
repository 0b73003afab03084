"""BigEarthNet-S2 v1 and v2 (reBEN) read from fixtures written in the archives' real formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from archlab.config import DataConfig, load_config
from archlab.data import TensorSplit, load_dataset
from archlab.data.bigearthnet import (
    BAND_MEAN,
    BAND_STD,
    CLASSES_ALPHABETICAL,
    CLASSES_CANONICAL,
    CORINE_TO_19,
    S2_BANDS,
    V1_ARCHIVE_DIR,
    corine_to_19,
    native_size,
    v2_tile,
)
from archlab.data.fixtures import write_bigearthnet_v1, write_bigearthnet_v2
from archlab.data.geotiff import SampleError, write_geotiff

N = 12  # patches per fixture: 6 train, 3 validation, 3 test


@pytest.fixture(scope="session")
def v1_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("ben_v1")
    return root, write_bigearthnet_v1(root, N, seed=0)


@pytest.fixture(scope="session")
def v2_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("ben_v2")
    return root, write_bigearthnet_v2(root, N, seed=0)


@pytest.fixture(scope="session")
def v1_data(v1_root):
    return load_dataset(DataConfig(name="bigearthnet", root=str(v1_root[0])))


@pytest.fixture
def v1_copy(v1_root, tmp_path: Path) -> tuple[Path, object]:
    """A private copy of the v1 fixture to damage."""
    shutil.copytree(v1_root[0], tmp_path / "v1")
    return tmp_path / "v1", v1_root[1]


def cfg(root: Path, **kw) -> DataConfig:
    return DataConfig(name=kw.pop("name", "bigearthnet"), root=str(root), **kw)


# ---- nomenclature and constants --------------------------------------------------------------------


def test_band_grid_and_statistics_constants() -> None:
    assert S2_BANDS == ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
    assert [native_size(b) for b in S2_BANDS] == [20, 120, 120, 120, 60, 60, 60, 120, 60, 20, 60, 60]
    assert BAND_MEAN["B01"] == 359.93681858037576 and BAND_STD["B12"] == 802.1790763840752  # spec §5.3
    assert set(BAND_MEAN) == set(BAND_STD) == set(S2_BANDS)


def test_alphabetical_order_is_the_sorted_canonical_list() -> None:
    """Spec §5.4's table (seed 000's indices) is Python's sort of the nomenclature's 19 names."""
    assert len(set(CLASSES_CANONICAL)) == 19
    assert list(CLASSES_ALPHABETICAL) == sorted(CLASSES_CANONICAL)
    assert (
        CLASSES_ALPHABETICAL[10].startswith("Land principally") and CLASSES_ALPHABETICAL[18] == "Urban fabric"
    )


def test_corine_43_to_19_mapping() -> None:
    assert len(CORINE_TO_19) == 43
    dropped = sorted(k for k, v in CORINE_TO_19.items() if v is None)
    assert len(dropped) == 11 and "Airports" in dropped and "Intertidal flats" in dropped
    assert {v for v in CORINE_TO_19.values() if v is not None} == set(CLASSES_CANONICAL)
    assert corine_to_19(["Peatbogs", "Inland marshes", "Airports", "Olive groves"], "x.json") == [
        "Inland wetlands",
        "Permanent crops",
    ]
    with pytest.raises(SampleError, match="'Transitional woodland, shrub' is not one of the 43"):
        corine_to_19(
            ["Transitional woodland, shrub"], "x.json"
        )  # the 19-class spelling, not the 43-class one


# ---- v1 --------------------------------------------------------------------------------------------


def test_v1_fixture_layout_is_the_archive_layout(v1_root) -> None:
    root, fx = v1_root
    name = fx.splits["train"][0]
    folder = root / V1_ARCHIVE_DIR / name
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted([f"{name}_{b}.tif" for b in S2_BANDS] + [f"{name}_labels_metadata.json"])
    meta = json.loads((folder / f"{name}_labels_metadata.json").read_text())
    assert set(meta) == {"labels", "coordinates", "projection", "tile_source", "acquisition_date"}
    assert all(label in CORINE_TO_19 for label in meta["labels"])
    assert (root / "train.csv").read_text().split() == fx.splits["train"]


def test_v1_splits_shapes_targets_and_statistics(v1_root, v1_data) -> None:
    _, fx = v1_root
    ds = v1_data
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6, 3, 3)
    assert ds.train.x.shape == (6, 12, 120, 120) and ds.train.x.dtype == torch.uint16
    assert ds.train.y.shape == (6, 19) and ds.train.y.dtype == torch.float32
    assert ds.task == "multi_label" and ds.scale == 1.0 and ds.skipped == []
    assert ds.classes == list(CLASSES_ALPHABETICAL) and ds.bands == list(S2_BANDS)
    assert ds.mean == [BAND_MEAN[b] for b in S2_BANDS] and ds.std == [BAND_STD[b] for b in S2_BANDS]
    for split, part in (("train", ds.train), ("val", ds.val), ("test", ds.test)):
        for row, name in zip(part.y, fx.splits[split]):
            assert [c for c, on in zip(ds.classes, row.tolist()) if on] == fx.labels[name]


def test_v1_pixels_equal_band_files_upsampled(v1_root, v1_data) -> None:
    """Channel c of a patch is its band file, read independently with tifffile and repeated k×k."""
    import tifffile

    root, fx = v1_root
    name = fx.splits["train"][1]
    x = v1_data.train.x[1].numpy()
    for c, band in enumerate(S2_BANDS):
        raw = tifffile.imread(root / V1_ARCHIVE_DIR / name / f"{name}_{band}.tif")
        k = 120 // raw.shape[0]
        assert raw.shape == (native_size(band),) * 2
        assert np.array_equal(x[c], np.kron(raw, np.ones((k, k), dtype=raw.dtype))), band


def test_v1_streaming_gives_identical_tensors(v1_root, v1_data) -> None:
    stream = load_dataset(cfg(v1_root[0], in_memory=False))
    assert not isinstance(stream.train, TensorSplit)
    for mem, lazy in ((v1_data.train, stream.train), (v1_data.val, stream.val), (v1_data.test, stream.test)):
        assert len(lazy) == len(mem)
        for i in range(len(mem)):
            x, y = lazy[i]
            assert x.dtype == torch.uint16 and torch.equal(x, mem.x[i]) and torch.equal(y, mem.y[i])
    assert stream.input_size == (12, 120, 120) and stream.mean == v1_data.mean


def test_v1_canonical_class_order_permutes_targets(v1_root, v1_data) -> None:
    can = load_dataset(cfg(v1_root[0], class_order="canonical"))
    assert can.classes == list(CLASSES_CANONICAL)
    perm = [CLASSES_ALPHABETICAL.index(c) for c in CLASSES_CANONICAL]
    assert torch.equal(can.train.y, v1_data.train.y[:, perm])


def test_v1_band_selection(v1_root, v1_data) -> None:
    rgb = load_dataset(cfg(v1_root[0], bands=["B04", "B03", "B02"]))
    assert rgb.bands == ["B04", "B03", "B02"] and rgb.input_size == (3, 120, 120)
    assert torch.equal(rgb.train.x, v1_data.train.x[:, [3, 2, 1]])
    assert rgb.mean == [BAND_MEAN["B04"], BAND_MEAN["B03"], BAND_MEAN["B02"]]
    with pytest.raises(ValueError, match="unknown band 'B10'.*B8A, B09, B11, B12"):
        load_dataset(cfg(v1_root[0], bands=["B02", "B10"]))


def test_v1_without_split_files_carves_a_test_split(v1_root, tmp_path: Path) -> None:
    """Patch folders directly under root (no BigEarthNet-v1.0/, no CSVs): data.test_split is carved."""
    root, fx = v1_root
    shutil.copytree(root / V1_ARCHIVE_DIR, tmp_path / "flat")
    ds = load_dataset(cfg(tmp_path / "flat", test_split=0.25, split_seed=1))
    assert ds.val is None and (len(ds.train), len(ds.test)) == (9, 3)
    all_y = torch.cat([ds.train.y, ds.test.y])
    got = sorted([c for c, on in zip(ds.classes, row.tolist()) if on] for row in all_y)
    assert got == sorted(fx.labels.values())  # every patch exactly once
    again = load_dataset(cfg(tmp_path / "flat", test_split=0.25, split_seed=1))
    assert torch.equal(again.test.x, ds.test.x)
    other = load_dataset(cfg(tmp_path / "flat", test_split=0.25, split_seed=2))
    assert not torch.equal(other.test.x, ds.test.x)


def test_v1_limit(v1_root) -> None:
    ds = load_dataset(cfg(v1_root[0], limit=2))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (2, 2, 2)


def test_configs_reproduce_seed_000_settings(configs_dir: Path) -> None:
    for name, model in (("v9.yaml", "multispectral_v9"), ("wrn_b4_eca.yaml", "wrn_b4_eca")):
        c = load_config(configs_dir / "bigearthnet" / name)
        assert c.model.name == model and c.data.name == "bigearthnet" and c.data.bands == list(S2_BANDS)
        assert (c.optim.name, c.optim.lr, c.optim.weight_decay) == ("adamw", 1e-3, 1e-3)
        assert (c.sched.name, c.sched.gamma, c.sched.patience) == ("plateau", 0.5, 4)
        assert (c.train.epochs, c.train.early_stopping, c.train.grad_clip, c.data.batch_size) == (
            50,
            10,
            100.0,
            256,
        )
    assert load_config(configs_dir / "bigearthnet" / "v9.yaml").sched.min_lr == 1e-7
    assert load_config(configs_dir / "eurosat" / "ms.yaml").data.name == "eurosat_ms"


# ---- v1 bad data -----------------------------------------------------------------------------------


def _patch(root: Path, name: str) -> Path:
    return root / V1_ARCHIVE_DIR / name


def test_missing_band_file_raises_or_is_skipped(v1_copy) -> None:
    root, fx = v1_copy
    name = fx.splits["train"][2]
    bad = _patch(root, name) / f"{name}_B05.tif"
    bad.unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(cfg(root))
    assert str(info.value).startswith(f"{bad}: file not found") and "on_error=skip" in str(info.value)
    for in_memory in (True, False):
        ds = load_dataset(cfg(root, on_error="skip", in_memory=in_memory))
        assert ds.skipped == [f"{bad}: file not found"] and len(ds.train) == 5
    with pytest.raises(FileNotFoundError, match="B05.tif: file not found"):  # streaming + raise: when read
        stream = load_dataset(cfg(root, in_memory=False))
        [stream.train[i] for i in range(len(stream.train))]


def test_band_of_wrong_size(v1_copy) -> None:
    root, fx = v1_copy
    name = fx.splits["test"][0]
    bad = _patch(root, name) / f"{name}_B02.tif"
    write_geotiff(bad, np.ones((60, 60), np.uint16), pixel_size=20.0, origin=(0.0, 0.0), epsg=32633)
    with pytest.raises(ValueError, match=r"B02\.tif: band has size 60x60, expected 120x120"):
        load_dataset(cfg(root))
    ds = load_dataset(cfg(root, on_error="skip"))
    assert len(ds.test) == 2 and ds.skipped == [
        f"{bad}: band has size 60x60, expected 120x120 (its native grid)"
    ]


def test_corrupt_geotiff(v1_copy) -> None:
    root, fx = v1_copy
    name = fx.splits["val"][1]
    bad = _patch(root, name) / f"{name}_B8A.tif"
    bad.write_bytes(bad.read_bytes()[:3000])
    with pytest.raises(ValueError, match=r"B8A\.tif: truncated file"):
        load_dataset(cfg(root))
    mem = load_dataset(cfg(root, on_error="skip"))
    stream = load_dataset(cfg(root, on_error="skip", in_memory=False))
    assert len(mem.val) == len(stream.val) == 2 and mem.skipped == stream.skipped and len(mem.skipped) == 1
    for i in range(2):
        assert torch.equal(stream.val[i][0], mem.val.x[i])


def _set_labels(root: Path, name: str, labels: list[str]) -> Path:
    path = _patch(root, name) / f"{name}_labels_metadata.json"
    meta = json.loads(path.read_text())
    meta["labels"] = labels
    path.write_text(json.dumps(meta))
    return path


def test_label_outside_the_nomenclature(v1_copy) -> None:
    root, fx = v1_copy
    path = _set_labels(root, fx.splits["train"][0], ["Pastures", "Martian craters"])
    with pytest.raises(
        ValueError, match=r"labels_metadata\.json: label 'Martian craters' is not one of the 43"
    ):
        load_dataset(cfg(root))
    ds = load_dataset(cfg(root, on_error="skip"))
    assert len(ds.train) == 5 and len(ds.skipped) == 1 and ds.skipped[0].startswith(f"{path}: label")


def test_patch_without_a_19_class_label_is_excluded_and_counted(v1_copy) -> None:
    root, fx = v1_copy
    path = _set_labels(root, fx.splits["train"][3], ["Airports", "Bare rock"])
    for on_error in ("raise", "skip"):
        ds = load_dataset(cfg(root, on_error=on_error))
        assert len(ds.train) == 5
        assert ds.skipped == [
            f"{path}: no label of the 19-class nomenclature (labels: 'Airports', 'Bare rock'); excluded"
        ]


def test_split_file_naming_a_missing_patch(v1_copy) -> None:
    root, _ = v1_copy
    with (root / "test.csv").open("a") as fh:
        fh.write("S2A_MSIL2A_20170613T101031_99_99\n")
    with pytest.raises(FileNotFoundError, match=r"_99_99: patch folder listed in the split file not found"):
        load_dataset(cfg(root))
    assert len(load_dataset(cfg(root, on_error="skip")).test) == 3


def test_patch_in_two_split_files(v1_copy) -> None:
    root, fx = v1_copy
    with (root / "test.csv").open("a") as fh:
        fh.write(fx.splits["train"][0] + "\n")
    with pytest.raises(ValueError, match="is in both the train and test split files"):
        load_dataset(cfg(root))


# ---- v2 (reBEN) ------------------------------------------------------------------------------------


def test_v2_metadata_parquet_schema(v2_root) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root, fx = v2_root
    schema = pq.read_schema(root / "metadata.parquet")
    assert schema.names == [
        "patch_id", "labels", "split", "country", "s1_name", "s2v1_name",
        "contains_seasonal_snow", "contains_cloud_or_shadow",
    ]  # fmt: skip
    assert schema.field("labels").type == pa.list_(pa.string()) and schema.field("split").type == pa.string()
    pid = fx.splits["train"][0]
    assert v2_tile(pid) == "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    assert (root / "BigEarthNet-S2" / v2_tile(pid) / pid / f"{pid}_B09.tif").is_file()


def test_v2_loads_the_same_patches_as_v1(v1_data, v2_root) -> None:
    """Both fixtures hold the same pixels and labels for seed 0; v2 reads them via metadata.parquet."""
    ds = load_dataset(cfg(v2_root[0], name="bigearthnet_v2"))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6, 3, 3) and ds.skipped == []
    for a, b in ((ds.train, v1_data.train), (ds.val, v1_data.val), (ds.test, v1_data.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    stream = load_dataset(cfg(v2_root[0], name="bigearthnet_v2", in_memory=False))
    assert all(torch.equal(stream.val[i][0], ds.val.x[i]) for i in range(3))
    auto = load_dataset(cfg(v2_root[0], name="bigearthnet"))  # metadata.parquet present: read as v2
    assert auto.name == "bigearthnet_v2" and torch.equal(auto.test.x, ds.test.x)


def test_v2_stacked_geotiffs_equal_band_folders(v2_root, tmp_path: Path) -> None:
    import tifffile

    fx = write_bigearthnet_v2(tmp_path, N, seed=0, layout="stacked")
    pid = fx.splits["train"][0]
    with tifffile.TiffFile(tmp_path / f"{pid}.tif") as tif:  # spec §5.8's layout
        page = tif.pages[0]
        assert tif.series[0].shape == (120, 120, 12) and page.rowsperstrip == 2 and page.planarconfig == 1
    stacked = load_dataset(cfg(tmp_path, name="bigearthnet_v2", bands=["B12", "B01"]))
    folders = load_dataset(cfg(v2_root[0], name="bigearthnet_v2", bands=["B12", "B01"]))
    assert torch.equal(stacked.train.x, folders.train.x) and torch.equal(stacked.test.y, folders.test.y)


def _rewrite_metadata(root: Path, row: int, **values) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(root / "metadata.parquet")
    cols = table.to_pydict()
    for key, value in values.items():
        cols[key][row] = value
    pq.write_table(type(table).from_pydict(cols, schema=table.schema), root / "metadata.parquet")


def test_v2_bad_rows(v2_root, tmp_path: Path) -> None:
    root = tmp_path / "v2"
    shutil.copytree(v2_root[0], root)
    fx = v2_root[1]
    _rewrite_metadata(root, 0, labels=["Arable land", "Non-irrigated arable land"])
    _rewrite_metadata(root, 1, labels=[])
    with pytest.raises(ValueError, match=r"label 'Non-irrigated arable land' is not one of the 19"):
        load_dataset(cfg(root, name="bigearthnet_v2"))
    ds = load_dataset(cfg(root, name="bigearthnet_v2", on_error="skip"))
    assert len(ds.train) == 4 and len(ds.skipped) == 2
    assert ds.skipped[1].endswith(f"(patch {fx.splits['train'][1]}): no label of the 19-class nomenclature "
                                  "(labels: none); excluded")  # fmt: skip
    pid = fx.splits["test"][2]
    folder = root / "BigEarthNet-S2" / v2_tile(pid) / pid
    shutil.rmtree(folder)
    ds = load_dataset(cfg(root, name="bigearthnet_v2", on_error="skip"))
    assert (
        len(ds.test) == 2 and ds.skipped[2] == f"{folder}: patch folder not found (nor a stacked {pid}.tif)"
    )
    _rewrite_metadata(root, 0, labels=["Arable land"])
    _rewrite_metadata(root, 1, labels=["Pastures"])
    with pytest.raises(FileNotFoundError, match=f"{pid}: patch folder not found"):
        load_dataset(cfg(root, name="bigearthnet_v2"))


def test_v2_missing_or_corrupt_metadata(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="metadata.parquet' not found"):
        load_dataset(cfg(tmp_path, name="bigearthnet_v2"))
    (tmp_path / "metadata.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="metadata.parquet: not a readable parquet file"):
        load_dataset(cfg(tmp_path, name="bigearthnet_v2"))
