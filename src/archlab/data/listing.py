"""Listing a metadata table at archive scale: labels, splits and presence, with vectorised pyarrow.

reBEN's ``metadata.parquet`` has 480,038 rows. Building a multi-hot target and
looking a patch up on disk row by row takes tens of seconds. Here every step is a
whole-column operation: the split and label columns are mapped with
``pyarrow.compute.index_in``, targets are filled with one NumPy scatter, and
presence is one ``is_in`` against the pack's keys (or against one scan of the
archive's folders). Bad rows (an unknown split or label, a patch the pack or
archive lacks) are found in the same pass. Under ``on_error: raise`` the first one
is a one-line error that gives the count of the others; under ``skip`` each is
recorded and dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from archlab.data.geotiff import MissingSampleFile, SampleError

SPLIT_NAMES = {"train": "train", "validation": "val", "val": "val", "test": "test"}


@dataclass
class Listing:
    """Rows that can be used, grouped by split: ``entries[split] = (sources, targets)``; and the skip records."""

    entries: dict[str, tuple[list[str], torch.Tensor]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def read_metadata(path: Path, columns: Sequence[str], list_column: str = "labels"):
    """``columns`` of a metadata parquet as a pyarrow Table; a missing or malformed file is a one-line error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=[c for c in columns if c in pq.read_schema(path).names])
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable parquet file ({exc}); replace it") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; a BigEarthNet v2 metadata.parquet has "
            f"{', '.join(columns)} (found {', '.join(table.column_names)})"
        )
    if not pa.types.is_list(table.schema.field(list_column).type):
        raise ValueError(
            f"{path}: column {list_column} must be list<string>, found {table.schema.field(list_column).type}"
        )
    return table


def list_rows(
    table,
    classes: Sequence[str],
    *,
    where: str,
    present=None,
    missing: Callable[[str], tuple[str, str]] | None = None,
    valid_labels: Sequence[str] | None = None,
    single_label: bool = False,
    on_error: str = "raise",
    nomenclature: str = "classes",
) -> Listing:
    """Group the rows of ``table`` (patch_id, labels, split) into splits, with their targets.

    ``present`` (a boolean array or ``None``) says which rows' patches exist, and
    ``missing(patch_id)`` gives the ``(path, problem)`` of one that does not;
    ``valid_labels`` (default ``classes``) are the names a label may take. A row with
    no label is excluded and recorded. With every split null, all rows go to one
    ``all`` group, which the caller splits. ``single_label`` gives class-index
    targets (exactly one label per row). Records keep the table's row order.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    ids = np.asarray(table["patch_id"].to_numpy(zero_copy_only=False), dtype=object)
    if table["split"].null_count == n:
        split_code, split_of = np.zeros(n, np.int64), ["all"]
    else:
        names = list(SPLIT_NAMES)
        split_code = _codes(pc.index_in(table["split"], value_set=pa.array(names)))
        split_of = [SPLIT_NAMES[s] for s in names]

    labels = table["labels"].combine_chunks()
    if labels.null_count:
        labels = labels.fill_null(pa.scalar([], labels.type))
    parent = pc.list_parent_indices(labels).to_numpy()
    flat = pc.list_flatten(labels)
    allowed = list(valid_labels or classes)
    flat_idx = _codes(pc.index_in(flat, value_set=pa.array(allowed, pa.string())))
    counts = np.bincount(parent, minlength=n)
    bad_label = np.zeros(n, bool)
    bad_label[parent[flat_idx < 0]] = True
    bad_split = split_code < 0
    absent = np.zeros(n, bool) if present is None else ~np.asarray(present, bool) & ~bad_split & ~bad_label
    not_one = (counts != 1) & ~bad_split & ~bad_label & ~absent if single_label else np.zeros(n, bool)
    empty = (counts == 0) & ~(bad_split | bad_label | absent | not_one)

    def first_bad_label(i: int) -> str:
        lo = np.searchsorted(parent, i)
        pos = lo + int(np.argmax(flat_idx[lo : lo + counts[i]] < 0))
        return flat[int(pos)].as_py()

    def record(i: int, kind: str) -> tuple[str, str]:
        here = f"{where} (patch {ids[i]})"
        if kind == "split":
            return here, f"split {table['split'][i].as_py()!r} is not train, validation or test"
        if kind == "label":
            return here, f"label {first_bad_label(i)!r} is not one of the {nomenclature}"
        if kind == "absent":
            return missing(str(ids[i])) if missing else (here, "patch not found")
        return here, f"expected exactly one label, found {int(counts[i])}"

    out = Listing()
    kinds = (("split", bad_split), ("label", bad_label), ("absent", absent), ("one", not_one))
    if on_error != "skip":
        for kind, mask in kinds:
            rows = np.flatnonzero(mask)
            if rows.size:
                path, problem = record(int(rows[0]), kind)
                if rows.size > 1:
                    problem += f" (and {rows.size - 1:,} more such rows of {n:,})"
                raise (MissingSampleFile if kind == "absent" else SampleError)(path, problem)
    rows_out = []
    for kind, mask in kinds:
        rows_out += [(int(i), ": ".join(record(int(i), kind))) for i in np.flatnonzero(mask)]
    rows_out += [
        (
            int(i),
            f"{where} (patch {ids[i]}): no label of the {len(classes)}-class nomenclature (labels: none); excluded",
        )
        for i in np.flatnonzero(empty)
    ]
    out.skipped = [text for _, text in sorted(rows_out)]
    keep = ~(bad_split | bad_label | absent | not_one | empty)

    class_idx = {c: k for k, c in enumerate(classes)}
    to_class = np.array([class_idx.get(c, -1) for c in allowed], np.int64)
    flat_cls = np.where(flat_idx >= 0, to_class[np.maximum(flat_idx, 0)], -1)
    ok = flat_cls >= 0
    if single_label:
        y_all = np.full(n, -1, np.int64)
        y_all[parent[ok]] = flat_cls[ok]
    else:
        y_all = np.zeros((n, len(classes)), np.float32)
        y_all[parent[ok], flat_cls[ok]] = 1.0
    for code, split in enumerate(split_of):
        rows = np.flatnonzero(keep & (split_code == code))
        if rows.size:
            sources, targets = out.entries.get(split, ([], None))
            new = torch.from_numpy(y_all[rows])
            out.entries[split] = (
                sources + ids[rows].tolist(),
                new if targets is None else torch.cat([targets, new]),
            )
    return out


def _codes(indices) -> np.ndarray:
    """``index_in`` results as int64, -1 where the value was not in the set."""
    return np.asarray(indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def scan_folders(bases: Sequence[Path]) -> dict[str, str]:
    """Every patch folder or stacked ``.tif`` one or two levels under ``bases``: name -> path.

    One ``os.scandir`` per folder instead of several ``stat`` calls per metadata row. A
    name found in more than one place keeps the first, in the order of ``bases`` and
    folders before files.
    """
    dirs: dict[str, str] = {}
    files: dict[str, str] = {}

    def scan(folder: Path, depth: int) -> None:
        try:
            it = os.scandir(folder)
        except OSError:
            return
        with it:
            for entry in it:
                if entry.is_dir(follow_symlinks=True):
                    dirs.setdefault(entry.name, entry.path)
                    if depth:
                        scan(Path(entry.path), depth - 1)
                elif entry.name.lower().endswith((".tif", ".tiff")):
                    files.setdefault(entry.name.rsplit(".", 1)[0], entry.path)

    for base in bases:
        scan(base, 1)
    return {**files, **dirs}
