"""BigEarthNet-S2 v1 and v2 (reBEN) read from their archive layouts: 12 bands, 19 classes, multi-label.

v1 (``data.name: bigearthnet``): ``root[/BigEarthNet-v1.0]/<patch>/<patch>_<band>.tif``
(single-band uint16 GeoTIFFs at native resolution: 10 m bands 120×120, 20 m 60×60,
60 m 20×20) and ``<patch>_labels_metadata.json`` with the 43 CORINE level-3 names,
mapped to the 19-class nomenclature (Sumbul et al., "BigEarthNet-MM", 2021); the
official ``train.csv``/``val.csv``/``test.csv`` (one patch name per line) under root.

v2 (``data.name: bigearthnet_v2``, or ``bigearthnet`` when ``root/metadata.parquet``
exists): ``metadata.parquet`` (patch_id, labels in the 19 names, split) and
``BigEarthNet-S2/<tile>/<patch_id>/<patch_id>_<band>.tif``, or one stacked 12-band
``<patch_id>.tif`` per patch as written by seed 000's preprocessing.

Bands are resampled to the 10 m grid by nearest neighbour (spec §5.2) and kept in
stored units (uint16); normalisation uses the per-band statistics of spec §5.3.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from archlab._registry import closest
from archlab.data.datasets import TensorDataset, register_dataset
from archlab.data.geotiff import (
    MissingSampleFile,
    SampleError,
    assemble_splits,
    read_band,
    read_stacked,
    select_bands,
)

S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")  # spec §5.1
BAND_RESOLUTION_M = MappingProxyType(
    {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20,
     "B07": 20, "B08": 10, "B8A": 20, "B09": 60, "B11": 20, "B12": 20}
)  # fmt: skip
PATCH_SIZE = 120  # pixels of a 1,200 m patch on the 10 m grid
V1_ARCHIVE_DIR = "BigEarthNet-v1.0"
V2_ARCHIVE_DIR = "BigEarthNet-S2"

# Per-band statistics in stored units (reflectance x 10,000), seed 000's config (spec §5.3).
BAND_MEAN = MappingProxyType(
    {"B01": 359.93681858037576, "B02": 437.7795146920668, "B03": 626.9061237185847,
     "B04": 605.0589129818594, "B05": 971.6512098450492, "B06": 1821.9817358749056,
     "B07": 2108.096240315571, "B08": 2256.3215618504346, "B8A": 2310.6351913265307,
     "B09": 2311.6085833217353, "B11": 1608.6865167942176, "B12": 1017.1259618291762}
)  # fmt: skip
BAND_STD = MappingProxyType(
    {"B01": 583.5085769396974, "B02": 648.4384481402268, "B03": 639.2669907766995,
     "B04": 717.5748664544205, "B05": 761.8971822905785, "B06": 1090.758232889144,
     "B07": 1256.5524552734478, "B08": 1349.2050493390414, "B8A": 1287.1124261320342,
     "B09": 1297.654379610044, "B11": 1057.3350765979644, "B12": 802.1790763840752}
)  # fmt: skip

# The 19 classes in the nomenclature paper's order (spec §5.4b).
CLASSES_CANONICAL = (
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
)
# The same 19 in seed 000's index order: sorted strings (spec §5.4 table).
CLASSES_ALPHABETICAL = (
    "Agro-forestry areas",
    "Arable land",
    "Beaches, dunes, sands",
    "Broad-leaved forest",
    "Coastal wetlands",
    "Complex cultivation patterns",
    "Coniferous forest",
    "Industrial or commercial units",
    "Inland waters",
    "Inland wetlands",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Marine waters",
    "Mixed forest",
    "Moors, heathland and sclerophyllous vegetation",
    "Natural grassland and sparsely vegetated areas",
    "Pastures",
    "Permanent crops",
    "Transitional woodland, shrub",
    "Urban fabric",
)
# The 43 CORINE level-3 names of v1 and their 19-class name (None: dropped), spec §5.4b.
CORINE_TO_19 = MappingProxyType(
    {
        "Continuous urban fabric": "Urban fabric",
        "Discontinuous urban fabric": "Urban fabric",
        "Industrial or commercial units": "Industrial or commercial units",
        "Road and rail networks and associated land": None,
        "Port areas": None,
        "Airports": None,
        "Mineral extraction sites": None,
        "Dump sites": None,
        "Construction sites": None,
        "Green urban areas": None,
        "Sport and leisure facilities": None,
        "Non-irrigated arable land": "Arable land",
        "Permanently irrigated land": "Arable land",
        "Rice fields": "Arable land",
        "Vineyards": "Permanent crops",
        "Fruit trees and berry plantations": "Permanent crops",
        "Olive groves": "Permanent crops",
        "Pastures": "Pastures",
        "Annual crops associated with permanent crops": "Permanent crops",
        "Complex cultivation patterns": "Complex cultivation patterns",
        "Land principally occupied by agriculture, with significant areas of natural vegetation": (
            "Land principally occupied by agriculture, with significant areas of natural vegetation"
        ),
        "Agro-forestry areas": "Agro-forestry areas",
        "Broad-leaved forest": "Broad-leaved forest",
        "Coniferous forest": "Coniferous forest",
        "Mixed forest": "Mixed forest",
        "Natural grassland": "Natural grassland and sparsely vegetated areas",
        "Moors and heathland": "Moors, heathland and sclerophyllous vegetation",
        "Sclerophyllous vegetation": "Moors, heathland and sclerophyllous vegetation",
        "Transitional woodland/shrub": "Transitional woodland, shrub",
        "Beaches, dunes, sands": "Beaches, dunes, sands",
        "Bare rock": None,
        "Sparsely vegetated areas": "Natural grassland and sparsely vegetated areas",
        "Burnt areas": None,
        "Inland marshes": "Inland wetlands",
        "Peatbogs": "Inland wetlands",
        "Salt marshes": "Coastal wetlands",
        "Salines": "Coastal wetlands",
        "Intertidal flats": None,
        "Water courses": "Inland waters",
        "Water bodies": "Inland waters",
        "Coastal lagoons": "Marine waters",
        "Estuaries": "Marine waters",
        "Sea and ocean": "Marine waters",
    }
)
V2_COLUMNS = ("patch_id", "labels", "split")


def native_size(band: str) -> int:
    """Side in pixels of ``band`` in a BigEarthNet patch: 120 (10 m), 60 (20 m) or 20 (60 m)."""
    return PATCH_SIZE * 10 // BAND_RESOLUTION_M[band]


def class_names(order: str) -> list[str]:
    """The 19 class names in ``alphabetical`` (seed 000, spec §5.4) or ``canonical`` (§5.4b) order."""
    if order == "alphabetical":
        return list(CLASSES_ALPHABETICAL)
    if order == "canonical":
        return list(CLASSES_CANONICAL)
    raise ValueError(f"data.class_order must be 'alphabetical' or 'canonical', got {order!r}")


def corine_to_19(labels: list[str], where: str | Path) -> list[str]:
    """Map v1's CORINE names to the 19-class names (sorted, unique); unknown names raise :class:`SampleError`."""
    out = set()
    for name in labels:
        if name not in CORINE_TO_19:
            near = closest(str(name), list(CORINE_TO_19), n=1)
            hint = f" (closest: {near[0]!r})" if near else ""
            raise SampleError(where, f"label {name!r} is not one of the 43 BigEarthNet CORINE names{hint}")
        if CORINE_TO_19[name] is not None:
            out.add(CORINE_TO_19[name])
    return sorted(out)


def multi_hot(labels: list[str], classes: list[str]) -> torch.Tensor:
    """The float32 multi-hot vector of ``labels`` over ``classes``."""
    y = torch.zeros(len(classes), dtype=torch.float32)
    y[[classes.index(c) for c in labels]] = 1.0
    return y


def read_patch(source: str, bands: tuple[str, ...]) -> np.ndarray:
    """One patch as a uint16 ``len(bands)×120×120`` array from a v1/v2 patch folder or a stacked GeoTIFF."""
    path = Path(source)
    if path.suffix.lower() in (".tif", ".tiff"):
        return read_stacked(path, S2_BANDS, PATCH_SIZE, bands, "stacked patch")
    if not path.is_dir():
        raise MissingSampleFile(path, "patch folder not found")
    name = path.name
    return np.stack([read_band(path / f"{name}_{b}.tif", PATCH_SIZE, native_size(b)) for b in bands])


def _dataset(
    cfg, entries: dict, bands: list[str], classes: list[str], skipped: list[str], name: str, reader=None
) -> TensorDataset:
    entries = {
        k: (s, t if isinstance(t, torch.Tensor) else torch.stack(t) if t else torch.zeros(0, len(classes)))
        for k, (s, t) in entries.items()
    }
    reader = reader or functools.partial(read_patch, bands=tuple(bands))
    splits, dropped = assemble_splits(cfg, entries, reader)
    return TensorDataset(
        name,
        splits["train"],
        splits["test"],
        classes,
        val=splits["val"],
        mean=[BAND_MEAN[b] for b in bands],
        std=[BAND_STD[b] for b in bands],
        bands=bands,
        scale=1.0,
        task="multi_label",
        skipped=skipped + dropped,
    )


def _excluded(where: str | Path, labels: list[str]) -> str:
    shown = ", ".join(repr(x) for x in labels) or "none"
    return f"{where}: no label of the 19-class nomenclature (labels: {shown}); excluded"


# ---- v1 -------------------------------------------------------------------------------------------


def read_split_file(path: Path) -> list[str]:
    """Patch names of an official split file: one per line (the first field of a comma-separated line)."""
    names = []
    for i, line in enumerate(path.read_text().splitlines()):
        name = line.split(",")[0].strip()
        if not name or name.startswith("#"):
            continue
        if i == 0 and name.lower() in ("name", "patch", "patch_name", "patch_id", "s2_name"):
            continue  # a header row
        names.append(name)
    return names


def _v1_split_names(root: Path, patch_dir: Path, cfg) -> dict[str, list[str]] | None:
    def locate(filename: str) -> Path | None:
        return next((d / filename for d in (root, patch_dir) if (d / filename).is_file()), None)

    train = locate(cfg.train_csv)
    if train is None:
        return None
    test = locate(cfg.test_csv)
    if test is None:
        raise FileNotFoundError(
            f"found {str(train)!r} but no {cfg.test_csv!r} beside it; put the official test split there "
            "or set data.test_csv"
        )
    out = {"train": read_split_file(train), "test": read_split_file(test)}
    val = locate(cfg.val_csv)
    if val is not None:
        out["val"] = read_split_file(val)
    seen: dict[str, str] = {}
    for split, names in out.items():
        for n in names:
            if seen.setdefault(n, split) != split:
                raise ValueError(
                    f"patch {n!r} is in both the {seen[n]} and {split} split files; fix the split files"
                )
    return out


def _list_patches(patch_dir: Path) -> list[str]:
    return sorted(
        d.name
        for d in patch_dir.iterdir()
        if d.is_dir() and not d.name.startswith(".") and next(d.glob(f"{d.name}_*"), None) is not None
    )


def read_v1_labels(folder: Path) -> list[str]:
    """The CORINE names in ``<folder>/<patch>_labels_metadata.json``; a bad file raises :class:`SampleError`."""
    path = folder / f"{folder.name}_labels_metadata.json"
    if not path.is_file():
        raise MissingSampleFile(path, "labels file not found")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SampleError(path, f"not valid JSON ({exc})") from None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise SampleError(path, "expected a key 'labels' holding a list of CORINE class names")
    return labels


@register_dataset("bigearthnet")
def bigearthnet(cfg) -> TensorDataset:
    """BigEarthNet-S2 v1 from its archive (or v2 when ``root/metadata.parquet`` exists); see the module doc."""
    root = Path(cfg.root).expanduser()
    if (root / "metadata.parquet").is_file():
        from archlab.data.bigearthnet_v2 import bigearthnet_v2

        return bigearthnet_v2(cfg)
    if cfg.pack:
        from archlab.data.pack.datasets import bigearthnet_pack

        return bigearthnet_pack(cfg, "bigearthnet")
    patch_dir = root / V1_ARCHIVE_DIR if (root / V1_ARCHIVE_DIR).is_dir() else root
    layout = f"{root}/[{V1_ARCHIVE_DIR}/]<patch>/<patch>_B02.tif and <patch>_labels_metadata.json"
    if not patch_dir.is_dir():
        raise FileNotFoundError(f"BigEarthNet folder {str(root)!r} not found; expected {layout}")
    bands = select_bands(cfg.bands, S2_BANDS, "BigEarthNet-S2")
    classes = class_names(cfg.class_order)
    split_names = _v1_split_names(root, patch_dir, cfg)
    if split_names is None:
        names = _list_patches(patch_dir)
        if not names:
            raise FileNotFoundError(
                f"no BigEarthNet patch folders under {str(patch_dir)!r}; expected {layout}"
            )
        split_names = {"all": names}
    entries: dict[str, tuple[list[str], list[torch.Tensor]]] = {}
    skipped: list[str] = []
    for split, names in split_names.items():
        sources, targets = entries.setdefault(split, ([], []))
        for name in names:
            folder = patch_dir / name
            try:
                if not folder.is_dir():
                    raise MissingSampleFile(folder, "patch folder listed in the split file not found")
                corine = read_v1_labels(folder)
                labels = corine_to_19(corine, folder / f"{name}_labels_metadata.json")
            except SampleError as exc:
                if cfg.on_error != "skip":
                    raise
                skipped.append(exc.record)
                continue
            if not labels:
                skipped.append(_excluded(folder / f"{name}_labels_metadata.json", corine))
                continue
            sources.append(str(folder))
            targets.append(multi_hot(labels, classes))
    return _dataset(cfg, entries, bands, classes, skipped, "bigearthnet")


# ---- v2 (reBEN) -----------------------------------------------------------------------------------


def v2_tile(patch_id: str) -> str:
    """The tile folder of a v2 patch: ``patch_id`` without its last two ``_row_col`` parts."""
    return "_".join(patch_id.split("_")[:-2])
