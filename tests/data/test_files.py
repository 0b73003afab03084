"""Datasets from image files (ImageFolder tree, CSV of path,label) and the synthetic set."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from archlab.config import load_config
from archlab.data import load_dataset


def write_png(path: Path, value: int, size: tuple[int, int] = (6, 5), mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0]) + ((3,) if mode == "RGB" else ()), value, dtype=np.uint8)
    Image.fromarray(arr, mode=mode).save(path)


def test_imagefolder_train_and_test_folders(tmp_path: Path) -> None:
    for split, n in (("train", 3), ("test", 2)):
        for k, cls in enumerate(["cat", "dog"]):
            for i in range(n):
                write_png(tmp_path / split / cls / f"{i}.png", 10 * k + i)
    ds = load_dataset(load_config(None, ["data.name=imagefolder", f"data.root={tmp_path}"]).data)
    assert ds.classes == ["cat", "dog"]
    assert ds.train.x.shape == (6, 1, 5, 6) and ds.test.x.shape == (4, 1, 5, 6)
    assert ds.train.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.train.x[4, 0, 0, 0].item() == 11  # dog/1.png holds 10 * 1 + 1
    assert ds.bands == ["gray"]


def test_imagefolder_resizes_mixed_sizes_and_errors_without_resize(tmp_path: Path) -> None:
    write_png(tmp_path / "train" / "a" / "0.png", 1, (6, 5))
    write_png(tmp_path / "train" / "b" / "0.png", 2, (8, 8))
    write_png(tmp_path / "test" / "a" / "0.png", 1, (6, 5))
    write_png(tmp_path / "test" / "b" / "0.png", 2, (6, 5))
    with pytest.raises(ValueError, match="different sizes .*data.image_size"):
        load_dataset(load_config(None, ["data.name=imagefolder", f"data.root={tmp_path}"]).data)
    ds = load_dataset(
        load_config(None, ["data.name=imagefolder", f"data.root={tmp_path}", "data.image_size=[4, 4]"]).data
    )
    assert ds.train.x.shape == (2, 1, 4, 4)


def test_csv_dataset_and_unknown_test_label(tmp_path: Path) -> None:
    for i in range(4):
        write_png(tmp_path / "img" / f"{i}.png", 50 * i, mode="RGB")
    (tmp_path / "train.csv").write_text("path,label\nimg/0.png,zebra\nimg/1.png,ant\nimg/2.png,zebra\n")
    (tmp_path / "test.csv").write_text("img/3.png,ant\n")
    ds = load_dataset(load_config(None, ["data.name=csv", f"data.root={tmp_path}"]).data)
    assert ds.classes == ["ant", "zebra"] and ds.train.y.tolist() == [1, 0, 1] and ds.test.y.tolist() == [0]
    assert ds.train.x.shape == (3, 3, 5, 6) and ds.train.x[1, 2, 0, 0].item() == 50
    (tmp_path / "test.csv").write_text("img/3.png,bee\n")
    with pytest.raises(ValueError, match=r"labels not in the training CSV: \['bee'\]"):
        load_dataset(load_config(None, ["data.name=csv", f"data.root={tmp_path}"]).data)


def test_missing_and_corrupt_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train.csv"):
        load_dataset(load_config(None, ["data.name=csv", f"data.root={tmp_path}"]).data)
    (tmp_path / "train.csv").write_text("bad.png,x\nbad.png,y\n")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png.*cannot be decoded"):
        load_dataset(load_config(None, ["data.name=csv", f"data.root={tmp_path}"]).data)


def test_synthetic_is_reproducible_and_balanced() -> None:
    cfg = load_config(
        None,
        [
            "data.name=synthetic",
            "data.synthetic.train_samples=100",
            "data.synthetic.test_samples=40",
            "data.synthetic.size=8",
            "data.synthetic.channels=2",
        ],
    ).data
    a, b = load_dataset(cfg), load_dataset(cfg)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert a.train.x.shape == (100, 2, 8, 8) and a.train.x.dtype == torch.uint8
    assert torch.bincount(a.train.y).tolist() == [10] * 10
