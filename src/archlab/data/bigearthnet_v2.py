"""BigEarthNet v2 (reBEN): labels and splits from ``metadata.parquet``, patches from the archive or a pack.

``root/metadata.parquet`` (patch_id, labels in the 19 names, split), and the patches as
``root/BigEarthNet-S2/<tile>/<patch_id>/<patch_id>_<band>.tif``, as one stacked 12-band
``<patch_id>.tif`` per patch (seed 000's preprocessing), or as records of an LMDB pack
(``data.pack``, :mod:`archlab.data.pack`). The metadata is listed with whole-column
operations (:mod:`archlab.data.listing`). Bands, classes and normalisation are
BigEarthNet's (:mod:`archlab.data.bigearthnet`).
"""

from __future__ import annotations

import functools
from pathlib import Path

from archlab.data.bigearthnet import (
    CLASSES_CANONICAL,
    S2_BANDS,
    V2_ARCHIVE_DIR,
    V2_COLUMNS,
    _dataset,
    class_names,
    read_patch,
    v2_tile,
)
from archlab.data.datasets import TensorDataset, register_dataset
from archlab.data.geotiff import select_bands
from archlab.data.listing import Listing, list_rows, read_metadata, scan_folders


def read_v2_metadata(path: Path):
    """The ``patch_id``, ``labels`` and ``split`` columns of a reBEN ``metadata.parquet`` (spec §5.7), as a Table."""
    return read_metadata(path, V2_COLUMNS)


def require_splits(listing: Listing, where: Path | str) -> None:
    """A listing without usable train or test rows is a one-line error."""
    if "all" in listing.entries:
        return
    for split in ("train", "test"):
        if split not in listing.entries:
            raise ValueError(
                f"{where}: no usable {split!r} rows ({len(listing.skipped)} skipped); check the split column"
            )


@register_dataset("bigearthnet_v2")
def bigearthnet_v2(cfg) -> TensorDataset:
    """BigEarthNet v2 (reBEN): ``root/metadata.parquet`` and ``root/BigEarthNet-S2/<tile>/<patch_id>/``, or a pack."""
    if cfg.pack:
        from archlab.data.pack.datasets import bigearthnet_pack

        return bigearthnet_pack(cfg, "bigearthnet_v2")
    root = Path(cfg.root).expanduser()
    meta_path = root / "metadata.parquet"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{str(meta_path)!r} not found; BigEarthNet v2 needs root/metadata.parquet and "
            f"root/{V2_ARCHIVE_DIR}/<tile>/<patch_id>/ (set data.root), or a pack (set data.pack)"
        )
    bands = select_bands(cfg.bands, S2_BANDS, "BigEarthNet-S2")
    classes = class_names(cfg.class_order)
    table = read_v2_metadata(meta_path)
    found = scan_folders([root / V2_ARCHIVE_DIR, root])
    present = [pid in found for pid in table["patch_id"].to_pylist()]

    def missing(pid: str) -> tuple[str, str]:
        return str(
            root / V2_ARCHIVE_DIR / v2_tile(pid) / pid
        ), f"patch folder not found (nor a stacked {pid}.tif)"

    listing = list_rows(
        table,
        classes,
        where=str(meta_path),
        present=present,
        missing=missing,
        valid_labels=CLASSES_CANONICAL,
        on_error=cfg.on_error,
        nomenclature="19 BigEarthNet classes",
    )
    require_splits(listing, meta_path)
    entries = {k: ([found[pid] for pid in ids], t) for k, (ids, t) in listing.entries.items()}
    reader = functools.partial(read_patch, bands=tuple(bands))
    return _dataset(cfg, entries, bands, classes, listing.skipped, "bigearthnet_v2", reader)
