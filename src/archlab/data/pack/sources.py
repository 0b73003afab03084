"""What ``archlab data pack`` reads: each archive's rows and, per patch, its bands at native resolution.

A source is a metadata table in reBEN's schema (patch_id, labels, split, and any
other columns the archive has), where each patch is on disk, and a picklable
function that reads one patch into ``{band key: uint16 array}``. The band keys are
the ones rico-hdl writes for that dataset: ``B01`` … ``B12`` and ``B8A`` for
BigEarthNet, with ``B08A`` for EuroSAT's B8A.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archlab.data.geotiff import SampleError, read_geotiff, to_uint16

DATASETS = ("bigearthnet_v2", "bigearthnet", "eurosat_ms")
EUROSAT_RECORD_KEYS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B08A")  # fmt: skip


@dataclass
class Source:
    """An archive to pack: ``table`` rows, ``paths[patch_id]`` where each is, and ``read(path)`` -> bands."""

    dataset: str
    root: Path
    table: object  # pyarrow.Table
    paths: dict[str, str]
    read: object  # picklable: path -> {band key: array}
    skipped: list[str]


def read_native_band(path: Path, native: int, full: int) -> np.ndarray:
    """One single-band GeoTIFF as uint16, at its native side (or already at ``full``)."""
    arr = read_geotiff(path)
    if arr.shape[0] != 1:
        raise SampleError(path, f"expected a single-band GeoTIFF, found {arr.shape[0]} bands")
    band = to_uint16(arr[0], path)
    if band.shape not in ((native, native), (full, full)):
        raise SampleError(path, f"band has size {band.shape[0]}x{band.shape[1]}, expected {native}x{native}")
    return band


def read_bigearthnet_bands(source: str) -> dict[str, np.ndarray]:
    """A v1/v2 patch folder (``<name>_<band>.tif`` each) or a stacked 12-band GeoTIFF, band by band."""
    from archlab.data.bigearthnet import PATCH_SIZE, S2_BANDS, native_size
    from archlab.data.geotiff import read_stacked

    path = Path(source)
    if path.suffix.lower() in (".tif", ".tiff"):
        arr = read_stacked(path, S2_BANDS, PATCH_SIZE, S2_BANDS, "stacked patch")
        return dict(zip(S2_BANDS, arr))
    return {b: read_native_band(path / f"{path.name}_{b}.tif", native_size(b), PATCH_SIZE) for b in S2_BANDS}


def read_eurosat_bands(source: str) -> dict[str, np.ndarray]:
    """A 13-band EuroSAT MS GeoTIFF, keyed as rico-hdl keys EuroSAT (B8A stored last, as ``B08A``)."""
    from archlab.data.eurosat import EUROSAT_FILE_BANDS, read_eurosat

    arr = read_eurosat(source, EUROSAT_FILE_BANDS)
    return dict(zip(EUROSAT_RECORD_KEYS, arr))


def open_source(dataset: str, root: str | Path, cfg) -> Source:
    """The rows and patch locations of archive ``root`` for ``dataset`` (one of :data:`DATASETS`)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"archive folder {str(root)!r} not found; give --root the archive's folder")
    if dataset == "bigearthnet_v2":
        return _v2(root)
    if dataset == "bigearthnet":
        return _v1(root, cfg)
    if dataset == "eurosat_ms":
        return _eurosat(root)
    raise ValueError(f"cannot pack dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def _v2(root: Path) -> Source:
    import pyarrow.parquet as pq

    from archlab.data.bigearthnet import V2_ARCHIVE_DIR
    from archlab.data.bigearthnet_v2 import read_v2_metadata
    from archlab.data.listing import scan_folders

    meta = root / "metadata.parquet"
    if not meta.is_file():
        raise FileNotFoundError(f"{str(meta)!r} not found; reBEN's archive has metadata.parquet at its root")
    read_v2_metadata(meta)  # checks the schema
    table = pq.read_table(meta)
    found = scan_folders([root / V2_ARCHIVE_DIR, root])
    return Source("bigearthnet_v2", root, table, found, read_bigearthnet_bands, [])


def _v1(root: Path, cfg) -> Source:
    import pyarrow as pa

    from archlab.data.bigearthnet import (
        V1_ARCHIVE_DIR,
        _list_patches,
        _v1_split_names,
        corine_to_19,
        read_v1_labels,
    )

    patch_dir = root / V1_ARCHIVE_DIR if (root / V1_ARCHIVE_DIR).is_dir() else root
    split_names = _v1_split_names(root, patch_dir, cfg) or {"": _list_patches(patch_dir)}
    rows = {"patch_id": [], "labels": [], "split": []}
    paths, skipped = {}, []
    for split, names in split_names.items():
        for name in names:
            folder = patch_dir / name
            try:
                labels = corine_to_19(read_v1_labels(folder), folder / f"{name}_labels_metadata.json")
            except (SampleError, FileNotFoundError) as exc:
                skipped.append(getattr(exc, "record", str(exc)))
                continue
            rows["patch_id"].append(name)
            rows["labels"].append(labels)
            rows["split"].append({"": None, "val": "validation"}.get(split, split))
            paths[name] = str(folder)
    schema = pa.schema([("patch_id", pa.string()), ("labels", pa.list_(pa.string())), ("split", pa.string())])
    return Source(
        "bigearthnet", root, pa.Table.from_pydict(rows, schema=schema), paths, read_bigearthnet_bands, skipped
    )


def _eurosat(root: Path) -> Source:
    import pyarrow as pa

    from archlab.data.eurosat import EUROSAT_CLASSES, _natural_key, find_eurosat_root

    base = find_eurosat_root(root)
    rows = {"patch_id": [], "labels": [], "split": []}
    paths = {}
    for name in EUROSAT_CLASSES:
        for p in sorted(
            (q for q in (base / name).iterdir() if q.suffix.lower() in (".tif", ".tiff")), key=_natural_key
        ):
            rows["patch_id"].append(p.stem)
            rows["labels"].append([name])
            rows["split"].append(None)
            paths[p.stem] = str(p)
    schema = pa.schema([("patch_id", pa.string()), ("labels", pa.list_(pa.string())), ("split", pa.string())])
    return Source(
        "eurosat_ms", root, pa.Table.from_pydict(rows, schema=schema), paths, read_eurosat_bands, []
    )


def read_patch_record(read, item: tuple[str, str]) -> tuple[str, bytes | None, str | None]:
    """``(key, record, None)`` for one patch, or ``(key, None, reason)`` when its source is bad (in a worker)."""
    from archlab.data.pack.records import encode

    key, path = item
    try:
        return key, encode(read(path)), None
    except SampleError as exc:
        return key, None, exc.record


def record_reader(source: Source):
    """The picklable per-patch function the pack's workers run."""
    return functools.partial(read_patch_record, source.read)
