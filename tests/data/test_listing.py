"""Listing a metadata table with whole-column operations: targets, splits, bad rows; scanning patch folders."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from archlab.data.geotiff import MissingSampleFile, SampleError
from archlab.data.listing import list_rows, read_metadata, scan_folders

CLASSES = ["a", "b", "c"]
WHERE = "meta.parquet"


def table(ids, labels, splits) -> pa.Table:
    return pa.table(
        {
            "patch_id": pa.array(ids, pa.string()),
            "labels": pa.array(labels, pa.list_(pa.string())),
            "split": pa.array(splits, pa.string()),
        }
    )


def test_multi_hot_targets_grouped_by_split() -> None:
    t = table(
        ["p0", "p1", "p2", "p3", "p4"],
        [["a"], ["b", "c"], ["c", "a", "b"], ["b"], ["a", "c"]],
        ["train", "validation", "train", "test", "val"],
    )
    out = list_rows(t, CLASSES, where=WHERE)
    assert out.skipped == [] and set(out.entries) == {"train", "val", "test"}
    ids, y = out.entries["train"]
    assert ids == ["p0", "p2"] and y.dtype == torch.float32
    assert y.tolist() == [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    ids, y = out.entries["val"]  # 'validation' and 'val' are one split
    assert ids == ["p1", "p4"] and y.tolist() == [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]
    ids, y = out.entries["test"]
    assert ids == ["p3"] and y.tolist() == [[0.0, 1.0, 0.0]]


def test_class_order_sets_target_columns() -> None:
    t = table(["p0", "p1"], [["a"], ["c", "b"]], ["train", "train"])
    out = list_rows(t, ["c", "a", "b"], where=WHERE)
    assert out.entries["train"][1].tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]


def test_unknown_label_names_the_first_row_and_counts_the_others() -> None:
    t = table(["p0", "p1", "p2", "p3"], [["a"], ["b", "zz"], ["c"], ["yy"]], ["train"] * 4)
    with pytest.raises(SampleError) as info:
        list_rows(t, CLASSES, where=WHERE, nomenclature="3 test classes")
    assert info.value.path == f"{WHERE} (patch p1)"
    assert info.value.problem == "label 'zz' is not one of the 3 test classes (and 1 more such rows of 4)"
    assert "\n" not in str(info.value)


def test_unknown_split_is_a_sample_error() -> None:
    t = table(["p0", "p1"], [["a"], ["b"]], ["train", "dev"])
    with pytest.raises(SampleError, match=r"\(patch p1\): split 'dev' is not train, validation or test"):
        list_rows(t, CLASSES, where=WHERE)


def test_skip_records_bad_rows_in_row_order() -> None:
    t = table(
        ["p0", "p1", "p2", "p3", "p4", "p5"],
        [["a"], [], ["zz"], ["b"], ["c"], None],
        ["train", "train", "test", "dev", "test", "train"],
    )
    present = [True, True, True, True, False, True]
    out = list_rows(
        t,
        CLASSES,
        where=WHERE,
        present=present,
        missing=lambda pid: (f"pack [{pid}]", "patch not in the pack"),
        on_error="skip",
    )
    assert out.skipped == [
        f"{WHERE} (patch p1): no label of the 3-class nomenclature (labels: none); excluded",
        f"{WHERE} (patch p2): label 'zz' is not one of the classes",
        f"{WHERE} (patch p3): split 'dev' is not train, validation or test",
        "pack [p4]: patch not in the pack",
        f"{WHERE} (patch p5): no label of the 3-class nomenclature (labels: none); excluded",
    ]
    assert set(out.entries) == {"train"} and out.entries["train"][0] == ["p0"]


def test_empty_labels_are_excluded_even_under_raise() -> None:
    t = table(["p0", "p1", "p2"], [["a"], [], ["b"]], ["train", "train", "test"])
    out = list_rows(t, CLASSES, where=WHERE)
    assert out.skipped == [
        f"{WHERE} (patch p1): no label of the 3-class nomenclature (labels: none); excluded"
    ]
    assert out.entries["train"][0] == ["p0"] and out.entries["test"][0] == ["p2"]


def test_all_null_splits_make_one_group() -> None:
    t = table(["p0", "p1", "p2"], [["a"], ["b"], ["c"]], [None, None, None])
    out = list_rows(t, CLASSES, where=WHERE)
    assert list(out.entries) == ["all"] and out.entries["all"][0] == ["p0", "p1", "p2"]
    assert out.entries["all"][1].shape == (3, 3)


def test_single_label_gives_class_indices_and_rejects_two_labels() -> None:
    t = table(["p0", "p1", "p2"], [["c"], ["a"], ["b"]], [None] * 3)
    out = list_rows(t, CLASSES, where=WHERE, single_label=True)
    ids, y = out.entries["all"]
    assert ids == ["p0", "p1", "p2"] and y.dtype == torch.int64 and y.tolist() == [2, 0, 1]
    two = table(["p0", "p1"], [["a"], ["a", "b"]], [None] * 2)
    with pytest.raises(SampleError) as info:
        list_rows(two, CLASSES, where=WHERE, single_label=True)
    assert info.value.record == f"{WHERE} (patch p1): expected exactly one label, found 2"
    out = list_rows(two, CLASSES, where=WHERE, single_label=True, on_error="skip")
    assert out.entries["all"][0] == ["p0"] and out.skipped == [info.value.record]


def test_absent_rows_raise_missing_sample_file_from_the_callable() -> None:
    t = table(["p0", "p1", "p2", "p3"], [["a"], ["b"], ["c"], ["a"]], ["train", "train", "test", "test"])
    with pytest.raises(MissingSampleFile) as info:
        list_rows(
            t,
            CLASSES,
            where=WHERE,
            present=[True, False, True, False],
            missing=lambda pid: (f"/archive/{pid}", "patch folder not found"),
        )
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.path == "/archive/p1"
    assert info.value.problem == "patch folder not found (and 1 more such rows of 4)"
    with pytest.raises(MissingSampleFile, match=r"\(patch p1\): patch not found"):
        list_rows(t, CLASSES, where=WHERE, present=[True, False, True, True])


def test_read_metadata_checks_columns_and_label_type(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(table(["p0"], [["a"]], ["train"]).append_column("country", pa.array(["X"])), good)
    assert read_metadata(good, ("patch_id", "labels", "split")).column_names == [
        "patch_id",
        "labels",
        "split",
    ]
    no_split = tmp_path / "no_split.parquet"
    pq.write_table(table(["p0"], [["a"]], ["train"]).drop_columns(["split"]), no_split)
    with pytest.raises(ValueError, match=r"missing column\(s\) split; .* \(found patch_id, labels\)"):
        read_metadata(no_split, ("patch_id", "labels", "split"))
    flat = tmp_path / "flat.parquet"
    pq.write_table(pa.table({"patch_id": ["p0"], "labels": ["a"], "split": ["train"]}), flat)
    with pytest.raises(ValueError, match="column labels must be list<string>, found string"):
        read_metadata(flat, ("patch_id", "labels", "split"))
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="not a readable parquet file"):
        read_metadata(junk, ("patch_id", "labels", "split"))


def test_scan_folders_finds_patch_folders_and_stacked_files(tmp_path: Path) -> None:
    first, second = tmp_path / "S2", tmp_path / "root"
    (first / "T1" / "P1").mkdir(parents=True)
    (first / "T1" / "P1" / "P1_B02.tif").write_bytes(b"")  # inside a patch folder: not a patch
    (first / "T1" / "P3.tiff").write_bytes(b"")
    (first / "T2" / "P4").mkdir(parents=True)
    (first / "T2" / "notes.txt").write_text("x")
    second.mkdir()
    (second / "P2.tif").write_bytes(b"")
    (second / "P4.tif").write_bytes(b"")  # also a folder: the folder wins
    (second / "P5").mkdir()  # depth 0 of a base: listed too
    found = scan_folders([first, second, tmp_path / "absent"])
    assert found == {
        "T1": str(first / "T1"),
        "T2": str(first / "T2"),
        "P1": str(first / "T1" / "P1"),
        "P3": str(first / "T1" / "P3.tiff"),
        "P4": str(first / "T2" / "P4"),
        "P2": str(second / "P2.tif"),
        "P5": str(second / "P5"),
    }
    assert scan_folders([second, first])["P4"] == str(first / "T2" / "P4")  # folders before files


def test_scan_folders_keeps_the_first_base_for_a_repeated_name(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "T" / "P").mkdir(parents=True)
    (b / "T" / "P").mkdir(parents=True)
    assert scan_folders([b, a])["P"] == str(b / "T" / "P")
    assert scan_folders([a, b])["P"] == str(a / "T" / "P")
