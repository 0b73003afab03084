"""Write tiny BigEarthNet v1, BigEarthNet v2 (reBEN) and EuroSAT MS datasets in their real on-disk formats.

Real GeoTIFFs (uint16, georeferenced in UTM), label JSONs, split CSVs and a
``metadata.parquet`` with the reBEN schema (spec §5.7), so every reading path can be
tried without the archives. Pixels carry class-dependent spectral signatures
(:mod:`archlab.data.synthetic_ms`), so a model can learn the labels::

    from archlab.data.fixtures import write_bigearthnet_v1
    write_bigearthnet_v1("fixture", n_patches=12)
    # archlab train --config configs/bigearthnet/v9.yaml --set data.root=fixture
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from archlab.data.bigearthnet import (
    BAND_MEAN,
    BAND_STD,
    CLASSES_CANONICAL,
    CORINE_TO_19,
    PATCH_SIZE,
    S2_BANDS,
    V1_ARCHIVE_DIR,
    V2_ARCHIVE_DIR,
    native_size,
    v2_tile,
)
from archlab.data.eurosat import (
    EUROSAT_BANDS,
    EUROSAT_CLASSES,
    EUROSAT_FILE_BANDS,
    EUROSAT_MEAN,
    EUROSAT_SIZE,
    EUROSAT_STD,
)
from archlab.data.geotiff import upsample_nearest, write_geotiff
from archlab.data.synthetic_ms import class_signatures, single_class_images, spectral_mixture, to_stored

UTM33N = 32633  # EPSG code of the fixtures' BigEarthNet patches (the tile T33UUP of spec §5.7)
V1_PREFIX = "S2A_MSIL2A_20170613T101031"
V2_PREFIX = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
S1_PREFIX = "S1B_IW_GRDH_1SDV_20170612T165809_33UUP"
WKT_UTM33N = (
    'PROJCS["WGS 84 / UTM zone 33N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["central_meridian",15],PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],'
    'PARAMETER["false_northing",0],UNIT["metre",1],AUTHORITY["EPSG","32633"]]'
)


@dataclass
class Fixture:
    """What a fixture writer wrote: its root, the samples of each split and their class names."""

    root: Path
    splits: dict[str, list[str]] = field(default_factory=dict)  # split -> patch names / image paths
    labels: dict[str, list[str]] = field(default_factory=dict)  # sample -> class names (19-class / EuroSAT)


def _split_sizes(n: int) -> dict[str, int]:
    """Half train, a quarter validation, the rest test (each at least one sample when n >= 3)."""
    val = max(1, n // 4) if n >= 3 else 0
    train = max(1, n // 2)
    return {"train": train, "val": val, "test": n - train - val}


def _bigearthnet_pixels(
    n: int, seed: int, max_labels: int, noise: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` 12-band 120×120 mosaics (float, on the 10 m grid) and their canonical-order multi-hot labels."""
    signatures = class_signatures(len(CLASSES_CANONICAL), [BAND_MEAN[b] for b in S2_BANDS],
                                  [BAND_STD[b] for b in S2_BANDS], seed=seed)  # fmt: skip
    band_std = torch.tensor([BAND_STD[b] for b in S2_BANDS], dtype=torch.float64)
    g = torch.Generator().manual_seed(seed + 1)
    return spectral_mixture(n, signatures, PATCH_SIZE, max_labels, noise, band_std, g)


def native_bands(image: torch.Tensor) -> dict[str, np.ndarray]:
    """Split a 12×120×120 float image into uint16 bands at native resolution (block means for 20 m and 60 m)."""
    pixels = image.double().numpy()
    out = {}
    for i, band in enumerate(S2_BANDS):
        side = native_size(band)
        k = PATCH_SIZE // side
        coarse = pixels[i].reshape(side, k, side, k).mean(axis=(1, 3))
        out[band] = np.clip(np.rint(coarse), 0, 65535).astype(np.uint16)
    return out


def _patch_grid(i: int) -> tuple[int, int, float, float]:
    """Row, column and upper-left UTM corner of the i-th fixture patch (1,200 m patches on a grid)."""
    row, col = 20 + i // 10, 40 + i % 10
    return row, col, 300_000.0 + col * 1200.0, 5_300_040.0 - row * 1200.0


def _write_band_files(folder: Path, name: str, image: torch.Tensor, x0: float, y0: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for band, arr in native_bands(image).items():
        pixel = 10.0 * PATCH_SIZE / arr.shape[0]
        write_geotiff(
            folder / f"{name}_{band}.tif", arr, pixel_size=pixel, origin=(x0, y0), epsg=UTM33N, nodata=0
        )


def write_bigearthnet_v1(
    root: str | Path,
    n_patches: int = 12,
    *,
    seed: int = 0,
    split_files: bool = True,
    archive_dir: bool = True,
    max_labels: int = 3,
    noise: float = 0.15,
    extra_dropped_labels: bool = True,
) -> Fixture:
    """A BigEarthNet-S2 v1 archive: ``root/BigEarthNet-v1.0/<patch>/`` with 12 band GeoTIFFs and a labels JSON.

    Labels are written as 43-class CORINE names (a random source name of each 19-class
    label; with ``extra_dropped_labels``, some patches also carry a name the 19-class
    nomenclature drops, such as "Airports"). With ``split_files``, ``train.csv``,
    ``val.csv`` and ``test.csv`` (one patch name per line) go under ``root``.
    """
    root = Path(root)
    patch_dir = root / V1_ARCHIVE_DIR if archive_dir else root
    rng = random.Random(seed)
    images, targets = _bigearthnet_pixels(n_patches, seed, max_labels, noise)
    sources = {}
    for corine, target in CORINE_TO_19.items():
        sources.setdefault(target, []).append(corine)
    fixture = Fixture(root)
    names = []
    for i in range(n_patches):
        row, col, x0, y0 = _patch_grid(i)
        name = f"{V1_PREFIX}_{row}_{col}"
        labels19 = [c for c, on in zip(CLASSES_CANONICAL, targets[i].tolist()) if on]
        corine = [rng.choice(sources[c]) for c in labels19]
        if extra_dropped_labels and rng.random() < 0.3:
            corine.append(rng.choice(sources[None]))
        folder = patch_dir / name
        _write_band_files(folder, name, images[i], x0, y0)
        meta = {
            "labels": corine,
            "coordinates": {"ulx": x0, "uly": y0, "lrx": x0 + 1200.0, "lry": y0 - 1200.0},
            "projection": WKT_UTM33N,
            "tile_source": "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101525",
            "acquisition_date": "2017-06-13 10:10:31",
        }
        (folder / f"{name}_labels_metadata.json").write_text(json.dumps(meta))
        fixture.labels[name] = sorted(labels19)
        names.append(name)
    start = 0
    for split, size in _split_sizes(n_patches).items():
        fixture.splits[split] = names[start : start + size]
        start += size
        if split_files:
            (root / f"{split}.csv").write_text("".join(f"{n}\n" for n in fixture.splits[split]))
    return fixture


def write_bigearthnet_v2(
    root: str | Path,
    n_patches: int = 12,
    *,
    seed: int = 0,
    layout: str = "folders",
    max_labels: int = 3,
    noise: float = 0.15,
) -> Fixture:
    """A BigEarthNet v2 (reBEN) tree: ``root/metadata.parquet`` (spec §5.7 schema) and the patches.

    ``layout="folders"``: ``root/BigEarthNet-S2/<tile>/<patch_id>/<patch_id>_<band>.tif`` at native
    resolution; ``"stacked"``: one 12-band 120×120 ``root/<patch_id>.tif`` per patch (seed 000's
    training format, spec §5.2/§5.8: 20/60 m bands nearest-upsampled, pixel-interleaved, 2 rows per strip).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if layout not in ("folders", "stacked"):
        raise ValueError(f"layout must be 'folders' or 'stacked', got {layout!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    images, targets = _bigearthnet_pixels(n_patches, seed, max_labels, noise)
    split_of = [s for s, k in _split_sizes(n_patches).items() for _ in range(k)]
    fixture = Fixture(root)
    columns: dict[str, list] = {
        k: [] for k in ("patch_id", "labels", "split", "country", "s1_name", "s2v1_name")
    }
    for i in range(n_patches):
        row, col, x0, y0 = _patch_grid(i)
        pid = f"{V2_PREFIX}_{row}_{col}"
        labels19 = sorted(c for c, on in zip(CLASSES_CANONICAL, targets[i].tolist()) if on)
        if layout == "folders":
            _write_band_files(root / V2_ARCHIVE_DIR / v2_tile(pid) / pid, pid, images[i], x0, y0)
        else:
            bands = native_bands(images[i])
            stacked = np.stack([upsample_nearest(bands[b], PATCH_SIZE) for b in S2_BANDS])
            _write_stacked(root / f"{pid}.tif", stacked, x0, y0)
        split = "validation" if split_of[i] == "val" else split_of[i]
        row_values = {
            "patch_id": pid,
            "labels": labels19,
            "split": split,
            "country": "Austria",
            "s1_name": f"{S1_PREFIX}_{row}_{col}",
            "s2v1_name": f"{V1_PREFIX}_{row}_{col}",
        }
        for key, value in row_values.items():
            columns[key].append(value)
        fixture.splits.setdefault(split_of[i], []).append(pid)
        fixture.labels[pid] = labels19
    schema = pa.schema(
        [("patch_id", pa.string()), ("labels", pa.list_(pa.string())), ("split", pa.string()),
         ("country", pa.string()), ("s1_name", pa.string()), ("s2v1_name", pa.string()),
         ("contains_seasonal_snow", pa.bool_()), ("contains_cloud_or_shadow", pa.bool_())]
    )  # fmt: skip
    columns["contains_seasonal_snow"] = [False] * n_patches
    columns["contains_cloud_or_shadow"] = [False] * n_patches
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), root / "metadata.parquet")
    return fixture


def _write_stacked(path: Path, stacked: np.ndarray, x0: float, y0: float) -> None:
    """A 12-band 120×120 pixel-interleaved GeoTIFF with 2 rows per strip, as in spec §5.8."""
    write_geotiff(path, stacked, pixel_size=10.0, origin=(x0, y0), epsg=UTM33N, nodata=0, rows_per_strip=2)


def write_eurosat_ms(root: str | Path, per_class: int = 3, *, seed: int = 0, noise: float = 0.15) -> Fixture:
    """EuroSAT MS: ``root/<Class>/<Class>_<n>.tif``, 13-band 64×64 uint16 GeoTIFFs with B8A stored last."""
    root = Path(root)
    mean = [EUROSAT_MEAN[b] for b in EUROSAT_BANDS]
    std = [EUROSAT_STD[b] for b in EUROSAT_BANDS]
    signatures = class_signatures(len(EUROSAT_CLASSES), mean, std, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    labels = torch.arange(len(EUROSAT_CLASSES)).repeat_interleave(per_class)
    images = to_stored(single_class_images(labels, signatures, EUROSAT_SIZE, noise, torch.tensor(std), g))
    order = [EUROSAT_BANDS.index(b) for b in EUROSAT_FILE_BANDS]
    fixture = Fixture(root)
    for j, (image, k) in enumerate(zip(images, labels.tolist())):
        name = EUROSAT_CLASSES[k]
        path = root / name / f"{name}_{j % per_class + 1}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        x0, y0 = 400_000.0 + 640.0 * j, 5_600_000.0
        write_geotiff(path, image.numpy()[order], pixel_size=10.0, origin=(x0, y0), epsg=32632)
        rel = str(path.relative_to(root))
        fixture.splits.setdefault("all", []).append(rel)
        fixture.labels[rel] = [name]
    return fixture
