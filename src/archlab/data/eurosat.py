"""EuroSAT MS (Helber et al., 2019): 27,000 Sentinel-2 L1C patches, 64×64, 13 bands, 10 classes.

Layout: ``root/<Class>/<Class>_<n>.tif``, one 13-band uint16 GeoTIFF per image (all
bands resampled to 10 m by the authors); ``root`` may also be the folder above the
archive's ``EuroSAT_MS/``, ``EuroSATallBands/`` or ``ds/images/remote_sensing/otherDatasets/sentinel_2/tif/``.
The files store band B8A **last** (B01…B08, B09, B10, B11, B12, B8A), not where the
paper lists it (phelber/EuroSAT issue #7; torchgeo issue #2458, fixed in PR #2480);
channels are returned in Sentinel-2 order (B8A after B08) unless ``data.bands`` says
otherwise. There is no official split: ``data.test_split`` is carved, stratified, with
``data.split_seed``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from archlab.data.datasets import TensorDataset, register_dataset
from archlab.data.geotiff import (
    assemble_splits,
    read_stacked,
    select_bands,
)

EUROSAT_CLASSES = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)
EUROSAT_FILE_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")  # fmt: skip
EUROSAT_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")  # fmt: skip
EUROSAT_SIZE = 64
EUROSAT_SUBDIRS = (
    "",
    "EuroSAT_MS",
    "EuroSATallBands",
    "ds/images/remote_sensing/otherDatasets/sentinel_2/tif",
)

# Per-band statistics over the EuroSAT MS files in stored units, as published with torchgeo's
# EuroSATDataModule (values listed in file order; keyed here by band).
EUROSAT_MEAN = MappingProxyType(
    {"B01": 1354.40546513, "B02": 1118.24399958, "B03": 1042.92983953, "B04": 947.62620298,
     "B05": 1199.47283961, "B06": 1999.79090914, "B07": 2369.22292565, "B08": 2296.82608323,
     "B09": 732.08340178, "B10": 12.11327804, "B11": 1819.01027855, "B12": 1118.92391149,
     "B8A": 2594.14080798}
)  # fmt: skip
EUROSAT_STD = MappingProxyType(
    {"B01": 245.71762908, "B02": 333.00778264, "B03": 395.09249139, "B04": 593.75055589,
     "B05": 566.4170017, "B06": 861.18399006, "B07": 1086.63139075, "B08": 1117.98170791,
     "B09": 404.91978886, "B10": 4.77584468, "B11": 1002.58768311, "B12": 761.30323499,
     "B8A": 1231.58581042}
)  # fmt: skip


def read_eurosat(path: str, bands: tuple[str, ...]) -> np.ndarray:
    """One EuroSAT MS image as a uint16 ``len(bands)×64×64`` array, bands picked by name from the file order."""
    return read_stacked(path, EUROSAT_FILE_BANDS, EUROSAT_SIZE, bands, "image")


def find_eurosat_root(root: Path) -> Path:
    """The folder holding the 10 class folders: ``root`` or one of the archive's subfolders."""
    for sub in EUROSAT_SUBDIRS:
        base = root / sub if sub else root
        if base.is_dir() and any((base / c).is_dir() for c in EUROSAT_CLASSES):
            missing = [c for c in EUROSAT_CLASSES if not (base / c).is_dir()]
            if missing:
                raise FileNotFoundError(
                    f"EuroSAT folder {str(base)!r} lacks class folder(s) {', '.join(missing)}; "
                    f"expected all of {', '.join(EUROSAT_CLASSES)}"
                )
            return base
    raise FileNotFoundError(
        f"EuroSAT MS not found under {str(root)!r}; expected {root}/AnnualCrop/AnnualCrop_1.tif ... "
        f"(or the archive's EuroSAT_MS/ folder); set data.root"
    )


def _natural_key(path: Path) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


def natural_order(names: list[str]) -> list[str]:
    """``names`` as the archive is read: by class, then image number (``AnnualCrop_2`` before ``_10``)."""
    return sorted(names, key=lambda n: _natural_key(Path(n)))


@register_dataset("eurosat_ms")
def eurosat_ms(cfg) -> TensorDataset:
    """EuroSAT MS from ``root/<Class>/<Class>_<n>.tif`` (or a pack); single-label, 10 classes; see the module doc."""
    if cfg.pack:
        from archlab.data.pack.datasets import eurosat_pack

        return eurosat_pack(cfg)
    base = find_eurosat_root(Path(cfg.root).expanduser())
    bands = select_bands(cfg.bands, EUROSAT_BANDS, "EuroSAT MS")
    sources, labels = [], []
    for k, name in enumerate(EUROSAT_CLASSES):
        files = sorted(
            (p for p in (base / name).iterdir() if p.suffix.lower() in (".tif", ".tiff")), key=_natural_key
        )
        sources += [str(p) for p in files]
        labels += [k] * len(files)
    if not sources:
        raise FileNotFoundError(f"no .tif files in the class folders under {str(base)!r}")
    entries = {"all": (sources, torch.tensor(labels, dtype=torch.int64))}
    return eurosat_dataset(cfg, entries, bands, functools.partial(read_eurosat, bands=tuple(bands)), [])


def eurosat_dataset(cfg, entries: dict, bands: list[str], reader, skipped: list[str]) -> TensorDataset:
    """The EuroSAT MS dataset of ``entries`` read by ``reader`` (GeoTIFFs or a pack); splits carved as configured."""
    splits, dropped = assemble_splits(cfg, entries, reader)
    return TensorDataset(
        "eurosat_ms",
        splits["train"],
        splits["test"],
        list(EUROSAT_CLASSES),
        val=splits["val"],
        mean=[EUROSAT_MEAN[b] for b in bands],
        std=[EUROSAT_STD[b] for b in bands],
        bands=bands,
        scale=1.0,
        task="single_label",
        skipped=skipped + dropped,
    )
