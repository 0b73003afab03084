"""Bad image files in imagefolder and csv datasets: data.on_error raise (one line naming the file) or skip."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from archlab.config import load_config
from archlab.data import load_dataset
from archlab.data.files import IMAGE_SUFFIXES, decode_images

SIDE = 12


def write_image(path: Path, seed: int, mode: str = "RGB", fmt: str = "PNG") -> np.ndarray:
    """A random ``SIDE``×``SIDE`` image saved with Pillow; returns its pixels (H×W or H×W×3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (SIDE, SIDE, 3) if mode == "RGB" else (SIDE, SIDE)
    arr = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(arr, mode=mode).save(path, format=fmt)
    return arr


def truncated_jpeg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(99).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format="JPEG", quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def colour_folder(root: Path, per_class: int = 4) -> None:
    """root/train/{cat,dog}/<i>.png and root/test/{cat,dog}/<i>.png, all fine, RGB."""
    for split, n in (("train", per_class), ("test", 2)):
        for k, cls in enumerate(("cat", "dog")):
            for i in range(n):
                write_image(
                    root / split / cls / f"{i}.png", seed=100 * k + i + (0 if split == "train" else 50)
                )


def load(root: Path, *extra: str):
    return load_dataset(load_config(None, ["data.name=imagefolder", f"data.root={root}", *extra]).data)


def load_csv(root: Path, *extra: str):
    return load_dataset(load_config(None, ["data.name=csv", f"data.root={root}", *extra]).data)


BAD_FILES = {
    # name: (how to make it, what the record says after "<path>: ")
    "truncated.jpg": (truncated_jpeg, r"cannot be decoded \(OSError: image file is truncated"),
    "empty.png": (lambda p: p.write_bytes(b""), r"cannot be decoded: empty file \(0 bytes\)"),
    "notes.png": (
        lambda p: p.write_text("a text file, not a picture\n"),
        "not an image format Pillow recognises",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_one_bad_file_raises_one_line_naming_it_and_the_fix(tmp_path: Path, name: str) -> None:
    colour_folder(tmp_path)
    make, reason = BAD_FILES[name]
    bad = tmp_path / "train" / "dog" / name
    make(bad)
    with pytest.raises(ValueError, match=reason) as info:
        load(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{bad}: ") and "\n" not in message
    assert "data.on_error=skip" in message


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_one_bad_file_is_skipped_and_recorded(tmp_path: Path, name: str) -> None:
    colour_folder(tmp_path)
    make, reason = BAD_FILES[name]
    bad = tmp_path / "train" / "dog" / name
    make(bad)
    ds = load(tmp_path, "data.on_error=skip")
    assert len(ds.skipped) == 1 and ds.skipped[0].startswith(f"{bad}: ")
    assert re.search(reason, ds.skipped[0])
    assert ds.train.x.shape == (8, 3, SIDE, SIDE) and ds.train.y.tolist() == [0] * 4 + [1] * 4
    assert ds.classes == ["cat", "dog"] and len(ds.test) == 4


def test_every_bad_kind_at_once_is_counted(tmp_path: Path) -> None:
    colour_folder(tmp_path, per_class=5)
    for name, (make, _) in BAD_FILES.items():
        make(tmp_path / "train" / "cat" / name)
    truncated_jpeg(tmp_path / "test" / "dog" / "cut.jpg")
    (tmp_path / "train" / "bird").mkdir()  # an empty class folder
    ds = load(tmp_path, "data.on_error=skip")
    assert len(ds.skipped) == 5  # three train files, one test file, one empty folder
    assert sorted(Path(r.split(": ")[0]).name for r in ds.skipped) == sorted(
        ["bird", "cut.jpg", "empty.png", "notes.png", "truncated.jpg"]
    )
    assert ds.classes == ["cat", "dog"]
    assert len(ds.train) == 10 and len(ds.test) == 4


def test_first_bad_file_in_order_is_reported_whatever_the_threads(tmp_path: Path) -> None:
    paths = []
    for i in range(60):
        path = tmp_path / f"{i:02d}.png"
        write_image(path, seed=i)
        paths.append(path)
    (tmp_path / "17.png").write_text("not an image")
    truncated_jpeg(tmp_path / "05.png")  # a JPEG under a .png name, cut: still the first bad one
    (tmp_path / "41.png").write_bytes(b"")
    for threads in (1, 2, 8):
        with pytest.raises(ValueError, match=r"05\.png: cannot be decoded"):
            decode_images(paths, None, "raise", threads=threads)
    x1, kept1, skipped1 = decode_images(paths, None, "skip", threads=1)
    x8, kept8, skipped8 = decode_images(paths, None, "skip", threads=8)
    assert torch.equal(x1, x8) and kept1 == kept8 and skipped1 == skipped8
    assert [Path(r.split(": ")[0]).name for r in skipped8] == ["05.png", "17.png", "41.png"]
    assert kept8 == [i for i in range(60) if i not in (5, 17, 41)]
    first = np.array(Image.open(paths[0]))
    assert torch.equal(x8[0], torch.from_numpy(first).permute(2, 0, 1))


def test_grey_image_in_a_colour_folder_is_widened_not_skipped(tmp_path: Path) -> None:
    colour_folder(tmp_path)
    grey = write_image(tmp_path / "train" / "cat" / "0_grey.png", seed=7, mode="L")  # sorts second in cat
    ds = load(tmp_path, "data.on_error=skip")
    assert ds.skipped == [] and ds.bands == ["R", "G", "B"]
    assert ds.train.x.shape == (9, 3, SIDE, SIDE)
    for c in range(3):
        assert torch.equal(ds.train.x[1, c], torch.from_numpy(grey))


def test_grey_first_then_colour_widens_the_earlier_images(tmp_path: Path) -> None:
    grey = write_image(tmp_path / "a.png", seed=1, mode="L")
    rgb = write_image(tmp_path / "b.png", seed=2)
    x, kept, skipped = decode_images([tmp_path / "a.png", tmp_path / "b.png"], None, threads=2)
    assert x.shape == (2, 3, SIDE, SIDE) and kept == [0, 1] and skipped == []
    assert torch.equal(x[0], torch.from_numpy(grey).expand(3, -1, -1))
    assert torch.equal(x[1], torch.from_numpy(rgb).permute(2, 0, 1))


def test_grey_test_split_is_widened_to_a_colour_train_split(tmp_path: Path) -> None:
    for k, cls in enumerate(("cat", "dog")):
        write_image(tmp_path / "train" / cls / "0.png", seed=k)
        write_image(tmp_path / "test" / cls / "0.png", seed=10 + k, mode="L")
    ds = load(tmp_path)
    assert ds.train.x.shape[1] == ds.test.x.shape[1] == 3 and ds.bands == ["R", "G", "B"]


def test_empty_class_folder_raises_or_is_dropped(tmp_path: Path) -> None:
    colour_folder(tmp_path)
    (tmp_path / "train" / "bird").mkdir()
    with pytest.raises(ValueError, match=r"train/bird: class folder has no image files .*data.on_error=skip"):
        load(tmp_path)
    ds = load(tmp_path, "data.on_error=skip")
    assert ds.classes == ["cat", "dog"]
    assert ds.skipped == [
        f"{tmp_path / 'train' / 'bird'}: class folder has no image files ({', '.join(IMAGE_SUFFIXES)})"
    ]
    assert ".png, .jpg" in ds.skipped[0]


def test_a_class_with_no_readable_file_is_dropped_with_its_test_images(tmp_path: Path) -> None:
    colour_folder(tmp_path)
    write_image(tmp_path / "test" / "ant" / "0.png", seed=3)
    write_image(tmp_path / "test" / "ant" / "1.png", seed=4)
    for i in range(2):
        (tmp_path / "train" / "ant" / f"{i}.png").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "train" / "ant" / f"{i}.png").write_bytes(b"")
    ds = load(tmp_path, "data.on_error=skip")
    assert ds.classes == ["cat", "dog"]
    assert ds.train.y.tolist() == [0] * 4 + [1] * 4  # labels renumbered without 'ant'
    assert ds.test.y.tolist() == [0, 0, 1, 1]
    assert len(ds.skipped) == 4
    assert (
        ds.skipped[2]
        == f"{tmp_path / 'train'}: class 'ant' dropped, none of its 2 image file(s) could be read"
    )
    assert ds.skipped[3] == (
        f"{tmp_path / 'test' / 'ant'}: class 'ant' has no readable image in the train split; its 2 images skipped"
    )


def test_hidden_folders_and_files_are_not_classes_or_images(tmp_path: Path) -> None:
    colour_folder(tmp_path)
    (tmp_path / "train" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "train" / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07")  # macOS AppleDouble file
    ds = load(tmp_path)
    assert ds.classes == ["cat", "dog"] and len(ds.train) == 8


def test_mixed_sizes_name_each_size_and_a_file(tmp_path: Path) -> None:
    colour_folder(tmp_path)
    big = tmp_path / "train" / "dog" / "big.png"
    Image.new("RGB", (20, 16)).save(big)
    with pytest.raises(ValueError, match=r"12x12 in 8 file\(s\).*16x20 in 1 file\(s\) \(first '.*big.png'\)"):
        load(tmp_path, "data.on_error=skip")  # a size is not a bad file: set data.image_size
    assert load(tmp_path, "data.image_size=[6, 6]").train.x.shape == (9, 3, 6, 6)


def test_csv_row_pointing_at_a_missing_file(tmp_path: Path) -> None:
    for i in range(4):
        write_image(tmp_path / "img" / f"{i}.png", seed=i)
    (tmp_path / "train.csv").write_text("path,label\nimg/0.png,a\nimg/gone.png,b\nimg/1.png,b\nimg/2.png,a\n")
    (tmp_path / "test.csv").write_text("img/3.png,b\nimg/lost.png,a\n")
    with pytest.raises(
        FileNotFoundError, match=r"img/gone.png: file not found; .*data.on_error=skip"
    ) as info:
        load_csv(tmp_path)
    assert "\n" not in str(info.value)
    ds = load_csv(tmp_path, "data.on_error=skip")
    assert ds.skipped == [
        f"{tmp_path / 'img' / 'gone.png'}: file not found",
        f"{tmp_path / 'img' / 'lost.png'}: file not found",
    ]
    assert ds.classes == ["a", "b"] and ds.train.y.tolist() == [0, 1, 0] and ds.test.y.tolist() == [1]


def test_csv_bad_rows_and_unknown_test_labels_under_skip(tmp_path: Path) -> None:
    for i in range(4):
        write_image(tmp_path / f"{i}.png", seed=i)
    (tmp_path / "train.csv").write_text("0.png,a\n1.png\n2.png,b\n")
    (tmp_path / "test.csv").write_text("3.png,b\n0.png,zebra\n")
    with pytest.raises(ValueError, match=r"train.csv line 2: expected path,label, got \['1.png'\]"):
        load_csv(tmp_path)
    ds = load_csv(tmp_path, "data.on_error=skip")
    assert ds.skipped == [
        f"{tmp_path / 'train.csv'} line 2: expected path,label, got ['1.png']",
        f"{tmp_path / '0.png'}: label 'zebra' has no readable image in the training CSV",
    ]
    assert ds.classes == ["a", "b"] and len(ds.train) == 2 and ds.test.y.tolist() == [1]


def test_nothing_readable_is_an_error_even_under_skip(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "0.png").write_bytes(b"")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "0.png").write_text("x")
    with pytest.raises(
        ValueError, match=r"has no readable images \(2 skipped; first: .*0.png: cannot be decoded"
    ):
        load(tmp_path, "data.on_error=skip")


def test_threads_only_for_images_slow_to_decode(monkeypatch) -> None:
    """Auto mode times the first images: threads for slow decodes (the GIL released), none for quick ones."""
    import threading
    import time

    from archlab.data import files
    from archlab.data.files import _in_order

    monkeypatch.setattr(files, "decode_threads", lambda: 4)  # as on a machine of 4 or more CPUs

    def slow(i: int) -> tuple[int, str]:
        time.sleep(0.002)  # as a large JPEG's decode: the GIL is released
        return i, threading.current_thread().name

    def quick(i: int) -> tuple[int, str]:
        return i, threading.current_thread().name

    slow_out = list(_in_order(slow, list(range(120)), None))
    assert [i for i, _ in slow_out] == list(range(120))  # in order whatever thread ran it
    assert any(name.startswith("archlab-decode") for _, name in slow_out)
    assert all(name == threading.current_thread().name for _, name in slow_out[:17])  # the timed head
    quick_out = list(_in_order(quick, list(range(120)), None))
    assert [i for i, _ in quick_out] == list(range(120))
    assert {name for _, name in quick_out} == {threading.current_thread().name}


def test_class_mismatch_is_found_before_any_image_is_decoded(tmp_path: Path) -> None:
    colour_folder(tmp_path)
    (tmp_path / "train" / "cat" / "0.png").write_bytes(b"")  # would be the first error if decoded first
    write_image(tmp_path / "test" / "owl" / "0.png", seed=5)
    with pytest.raises(
        ValueError, match=r"has classes \['cat', 'dog', 'owl'\] but the train split has \['cat', 'dog'\]"
    ):
        load(tmp_path)
