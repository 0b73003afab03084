"""BigEarthNet v1/v2 and EuroSAT MS read from a pack (``data.pack``): the same tensors as from their GeoTIFFs.

Labels and splits come from the pack's own ``metadata.parquet`` (archlab writes one)
or, for a pack from rico-hdl, from ``root/metadata.parquet``. A rico-hdl EuroSAT pack
has no metadata; its keys (``AnnualCrop_1``) name the class. Presence is one
``is_in`` of the metadata's patch ids against the pack's keys.
"""

from __future__ import annotations

from pathlib import Path

from archlab.data.datasets import TensorDataset
from archlab.data.geotiff import select_bands
from archlab.data.listing import list_rows, read_metadata
from archlab.data.pack import store
from archlab.data.pack.samples import PackReader


def pack_path(cfg) -> Path:
    return Path(cfg.pack).expanduser()


def _keys(env):
    import pyarrow as pa

    return pa.array(store.pack_keys(env), pa.binary()).cast(pa.string())


def _table(cfg, pack: Path, columns, env):
    """The metadata of a pack: its own, else ``root/metadata.parquet``."""
    for path in (store.metadata_path(pack), Path(cfg.root).expanduser() / store.METADATA_FILE):
        if path.is_file():
            return read_metadata(path, columns), str(path)
    return None, str(store.metadata_path(pack))


def listing_of(cfg, pack: Path, table, where: str, classes, env, **kw):
    import pyarrow.compute as pc

    present = pc.is_in(table["patch_id"], value_set=_keys(env)).to_numpy(zero_copy_only=False)
    return list_rows(
        table,
        classes,
        where=where,
        present=present,
        missing=lambda pid: (f"{pack} [{pid}]", "patch not in the pack"),
        on_error=cfg.on_error,
        **kw,
    )


def probe(cfg, pack: Path, listing, reader: PackReader) -> None:
    """Learn the record layout from the first record that decodes (under skip, bad ones are passed over)."""
    from archlab.data.pack.samples import PackRecordError

    for ids, _ in listing.entries.values():
        for key in ids:
            try:
                return reader.probe(key)
            except PackRecordError:
                if cfg.on_error != "skip":
                    raise
    raise ValueError(f"pack {str(pack)!r}: no usable patches ({len(listing.skipped)} skipped)")


def bigearthnet_pack(cfg, name: str) -> TensorDataset:
    """BigEarthNet-S2 (v1 or v2) from pack ``data.pack``; see the module doc."""
    from archlab.data.bigearthnet import (
        CLASSES_CANONICAL,
        PATCH_SIZE,
        S2_BANDS,
        V2_COLUMNS,
        _dataset,
        class_names,
        native_size,
    )
    from archlab.data.bigearthnet_v2 import require_splits

    pack = pack_path(cfg)
    env = store.open_env(pack)
    bands = select_bands(cfg.bands, S2_BANDS, "BigEarthNet-S2")
    classes = class_names(cfg.class_order)
    table, where = _table(cfg, pack, V2_COLUMNS, env)
    if table is None:
        raise FileNotFoundError(
            f"{where!r} not found; a pack from rico-hdl has no metadata: set data.root to the folder "
            "holding reBEN's metadata.parquet"
        )
    listing = listing_of(
        cfg,
        pack,
        table,
        where,
        classes,
        env,
        valid_labels=CLASSES_CANONICAL,
        nomenclature="19 BigEarthNet classes",
    )
    require_splits(listing, where)
    reader = PackReader(pack, bands, PATCH_SIZE, {b: native_size(b) for b in S2_BANDS})
    probe(cfg, pack, listing, reader)
    return _dataset(cfg, listing.entries, bands, classes, listing.skipped, name, reader)


def eurosat_pack(cfg) -> TensorDataset:
    """EuroSAT MS from pack ``data.pack``; without metadata, a key ``<Class>_<n>`` names its class."""
    import pyarrow as pa

    from archlab.data.eurosat import (
        EUROSAT_BANDS,
        EUROSAT_CLASSES,
        EUROSAT_SIZE,
        eurosat_dataset,
        natural_order,
    )

    pack = pack_path(cfg)
    env = store.open_env(pack)
    bands = select_bands(cfg.bands, EUROSAT_BANDS, "EuroSAT MS")
    table, where = _table(cfg, pack, ("patch_id", "labels", "split"), env)
    if table is None:
        keys = natural_order(
            _keys(env).to_pylist()
        )  # the GeoTIFF path's order, so the carved split is the same
        table = pa.table(
            {
                "patch_id": pa.array(keys, pa.string()),
                "labels": pa.array([[k.rsplit("_", 1)[0]] for k in keys], pa.list_(pa.string())),
                "split": pa.nulls(len(keys), pa.string()),
            }
        )
        where = str(pack)
    listing = listing_of(
        cfg,
        pack,
        table,
        where,
        list(EUROSAT_CLASSES),
        env,
        single_label=True,
        nomenclature="10 EuroSAT classes",
    )
    reader = PackReader(pack, bands, EUROSAT_SIZE, {b: EUROSAT_SIZE for b in EUROSAT_BANDS})
    probe(cfg, pack, listing, reader)
    return eurosat_dataset(cfg, listing.entries, bands, reader, listing.skipped)
