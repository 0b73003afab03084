"""BigEarthNet v2 (reBEN): labels and splits from ``metadata.parquet``, patches from the archive.

``root/metadata.parquet`` (patch_id, labels in the 19 names, split) and
``root/BigEarthNet-S2/<tile>/<patch_id>/<patch_id>_<band>.tif``, or one stacked 12-band
``<patch_id>.tif`` per patch as written by seed 000's preprocessing. Bands, classes and
normalisation are BigEarthNet's (:mod:`archlab.data.bigearthnet`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from archlab._registry import closest
from archlab.data.bigearthnet import (
    CLASSES_CANONICAL,
    S2_BANDS,
    V2_ARCHIVE_DIR,
    V2_COLUMNS,
    V2_SPLITS,
    _dataset,
    _excluded,
    class_names,
    multi_hot,
    v2_tile,
)
from archlab.data.datasets import TensorDataset, register_dataset
from archlab.data.geotiff import MissingSampleFile, SampleError, select_bands


def find_v2_patch(root: Path, patch_id: str) -> str:
    """Path of a v2 patch: a folder ``[BigEarthNet-S2/][<tile>/]<patch_id>`` or a stacked ``<patch_id>.tif``."""
    tile = v2_tile(patch_id)
    bases = (root / V2_ARCHIVE_DIR / tile, root / V2_ARCHIVE_DIR, root / tile, root)
    for base in bases:
        if (base / patch_id).is_dir():
            return str(base / patch_id)
    for base in bases:
        for suffix in (".tif", ".tiff"):
            if (base / f"{patch_id}{suffix}").is_file():
                return str(base / f"{patch_id}{suffix}")
    raise MissingSampleFile(
        root / V2_ARCHIVE_DIR / tile / patch_id, f"patch folder not found (nor a stacked {patch_id}.tif)"
    )


def read_v2_metadata(path: Path) -> dict[str, list]:
    """The ``patch_id``, ``labels`` and ``split`` columns of a reBEN ``metadata.parquet`` (spec §5.7)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable parquet file ({exc}); replace it") from None
    missing = [c for c in V2_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; a BigEarthNet v2 metadata.parquet has "
            f"{', '.join(V2_COLUMNS)} (found {', '.join(table.column_names)})"
        )
    if not pa.types.is_list(table.schema.field("labels").type):
        raise ValueError(
            f"{path}: column labels must be list<string>, found {table.schema.field('labels').type}"
        )
    return table.select(list(V2_COLUMNS)).to_pydict()


@register_dataset("bigearthnet_v2")
def bigearthnet_v2(cfg) -> TensorDataset:
    """BigEarthNet v2 (reBEN): ``root/metadata.parquet`` and ``root/BigEarthNet-S2/<tile>/<patch_id>/``."""
    root = Path(cfg.root).expanduser()
    meta_path = root / "metadata.parquet"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{str(meta_path)!r} not found; BigEarthNet v2 needs root/metadata.parquet and "
            f"root/{V2_ARCHIVE_DIR}/<tile>/<patch_id>/ (set data.root)"
        )
    bands = select_bands(cfg.bands, S2_BANDS, "BigEarthNet-S2")
    classes = class_names(cfg.class_order)
    meta = read_v2_metadata(meta_path)
    entries: dict[str, tuple[list[str], list[torch.Tensor]]] = {}
    skipped: list[str] = []
    for pid, labels, split in zip(meta["patch_id"], meta["labels"], meta["split"]):
        where = f"{meta_path} (patch {pid})"
        labels = list(labels or [])
        try:
            if split not in V2_SPLITS:
                raise SampleError(where, f"split {split!r} is not train, validation or test")
            for label in labels:
                if label not in CLASSES_CANONICAL:
                    near = closest(str(label), list(CLASSES_CANONICAL), n=1)
                    hint = f" (closest: {near[0]!r})" if near else ""
                    raise SampleError(
                        where, f"label {label!r} is not one of the 19 BigEarthNet classes{hint}"
                    )
            source = find_v2_patch(root, str(pid))
        except SampleError as exc:
            if cfg.on_error != "skip":
                raise
            skipped.append(exc.record)
            continue
        if not labels:
            skipped.append(_excluded(where, labels))
            continue
        sources, targets = entries.setdefault(V2_SPLITS[split], ([], []))
        sources.append(source)
        targets.append(multi_hot(sorted(set(labels)), classes))
    for split in ("train", "test"):
        if split not in entries:
            raise ValueError(
                f"{meta_path}: no usable {split!r} rows ({len(skipped)} skipped); check the split column"
            )
    return _dataset(cfg, entries, bands, classes, skipped, "bigearthnet_v2")
