"""GeoTIFF reading and writing with tifffile, band resampling, and the per-sample machinery of raster datasets.

A raster dataset (BigEarthNet, EuroSAT MS) is a list of samples, each read from
one or more GeoTIFFs into a ``C×H×W`` uint16 array in stored units. A bad sample
(missing file, wrong size, corrupt file, unknown label) raises :class:`SampleError`
with ``"<path>: <problem>"``; under ``data.on_error: skip`` the loaders drop it and
record that line instead. Splits are held in memory (:class:`TensorSplit`) or
streamed from disk (:class:`RasterSamples`), and both give the same tensors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from archlab._registry import closest
from archlab.data.datasets import TensorSplit

# GeoTIFF tags (GeoTIFF 1.0 spec) and GeoKeys written by write_geotiff.
TAG_PIXEL_SCALE = 33550
TAG_TIEPOINT = 33922
TAG_GEOKEYS = 34735
TAG_GDAL_NODATA = 42113
BAND_ALIASES = {"B08A": "B8A", "B8": "B08"}  # accepted spellings of Sentinel-2 band names


class SampleError(ValueError):
    """One bad sample: ``"<path>: <problem>"``, raised or (``data.on_error: skip``) recorded."""

    hint = "fix or remove it, or set data.on_error=skip to drop such samples"

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}; {self.hint}")

    @property
    def record(self) -> str:
        """The line kept in ``TensorDataset.skipped``."""
        return f"{self.path}: {self.problem}"

    def __reduce__(self):
        return type(self), (self.path, self.problem)


class MissingSampleFile(SampleError, FileNotFoundError):
    """A file a sample needs does not exist (a :class:`SampleError` and a ``FileNotFoundError``)."""


def read_geotiff(path: str | Path) -> np.ndarray:
    """Decode a (Geo)TIFF to a band-first ``C×H×W`` array in its stored dtype.

    Accepts single-band files, pixel-interleaved (``YXS``, tifffile's band axis last)
    and band-interleaved or multi-page files (band axis first). Raises
    :class:`MissingSampleFile` or :class:`SampleError` naming the file.
    """
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise MissingSampleFile(path, "file not found")
    try:
        with tifffile.TiffFile(path) as tif:
            _check_complete(tif, path)
            series = tif.series[0]
            axes = series.axes
            arr = series.asarray()
    except SampleError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for a damaged file
        raise SampleError(path, f"not a readable GeoTIFF ({type(exc).__name__}: {exc})") from None
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim == 3:
        return np.ascontiguousarray(np.moveaxis(arr, -1, 0)) if axes.endswith("S") else arr
    raise SampleError(path, f"expected a 2-D or 3-D raster, found shape {arr.shape} (axes {axes})")


def _check_complete(tif: Any, path: Path) -> None:
    """Raise when a strip or tile of any page lies past the end of the file (a truncated file)."""
    size = os.path.getsize(path)
    for page in tif.pages:
        offsets, counts = page.dataoffsets, page.databytecounts
        if not offsets:
            raise SampleError(path, "TIFF page has no image data")
        end = max(o + c for o, c in zip(offsets, counts))
        if end > size:
            raise SampleError(
                path, f"truncated file: image data ends at byte {end:,} but the file has {size:,}"
            )


def to_uint16(arr: np.ndarray, path: str | Path) -> np.ndarray:
    """``arr`` as uint16, refusing floats and integers outside 0..65535 (never a silent wrap-around)."""
    if arr.dtype == np.uint16:
        return arr
    if arr.dtype.kind not in "iu":
        raise SampleError(path, f"expected integer reflectances (uint16), found dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > 65535:
        raise SampleError(path, f"values {lo}..{hi} do not fit uint16 (dtype {arr.dtype})")
    return arr.astype(np.uint16)


def read_stacked(
    path: str | Path, file_bands: Sequence[str], size: int, bands: Sequence[str], what: str
) -> np.ndarray:
    """The ``bands`` (by name) of a multi-band GeoTIFF holding ``file_bands`` at ``size``×``size``, as uint16."""
    arr = read_geotiff(path)
    expected = (len(file_bands), size, size)
    if arr.shape != expected:
        raise SampleError(
            path,
            f"{what} has shape {'x'.join(map(str, arr.shape))} (bands x H x W), expected "
            f"{'x'.join(map(str, expected))} (bands {', '.join(file_bands)})",
        )
    arr = to_uint16(arr, path)
    return np.ascontiguousarray(arr[[list(file_bands).index(b) for b in bands]])


def upsample_nearest(band: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour upsampling of an ``h×h`` band to ``size×size`` by an integer factor k = size / h.

    Each output pixel (i, j) takes input pixel (i // k, j // k). On the aligned grids
    of a Sentinel-2 patch (same upper-left corner and extent; pixel sizes 10, 20, 60 m)
    this equals ``rasterio.warp.reproject(..., resampling=Resampling.nearest)`` onto
    the 10 m grid, which samples the source pixel containing each destination pixel
    centre: the centre of fine pixel i lies at (i + 0.5) * 10 m, inside coarse pixel
    floor((i + 0.5) / k) = i // k. It is what seed 000's preprocessing does (spec §5.2).
    """
    h, w = band.shape[-2:]
    if h != w or size % h != 0:
        raise ValueError(f"nearest upsampling needs a square band whose side divides {size}, got {h}x{w}")
    k = size // h
    return band if k == 1 else band.repeat(k, axis=-2).repeat(k, axis=-1)


def read_band(path: str | Path, size: int, native: int) -> np.ndarray:
    """Read a single-band GeoTIFF of side ``native`` (or already ``size``), as uint16 ``size×size``."""
    arr = read_geotiff(path)
    if arr.shape[0] != 1:
        raise SampleError(path, f"expected a single-band GeoTIFF, found {arr.shape[0]} bands")
    band = to_uint16(arr[0], path)
    if band.shape not in ((native, native), (size, size)):
        raise SampleError(
            path,
            f"band has size {band.shape[0]}x{band.shape[1]}, expected {native}x{native} (its native grid)",
        )
    return upsample_nearest(band, size)


def write_geotiff(
    path: str | Path,
    array: np.ndarray,
    *,
    pixel_size: float,
    origin: tuple[float, float],
    epsg: int,
    interleave: str = "pixel",
    nodata: int | None = None,
    rows_per_strip: int | None = None,
) -> None:
    """Write ``array`` (``H×W`` or band-first ``C×H×W``) as an uncompressed GeoTIFF in a projected CRS.

    Georeferencing: ModelPixelScale (33550), ModelTiepoint (33922) at the upper-left
    corner ``origin`` = (x, y), and a GeoKeyDirectory (34735) with model type
    projected, raster type PixelIsArea and ProjectedCSType ``epsg`` (e.g. 32633, UTM 33N).
    ``interleave`` is ``"pixel"`` (PlanarConfiguration contiguous, GDAL's default) or ``"band"``;
    ``nodata`` is written as GDAL's nodata tag (42113).
    """
    import tifffile

    if interleave not in ("pixel", "band"):
        raise ValueError(f"interleave must be 'pixel' or 'band', got {interleave!r}")
    data = np.asarray(array)
    planar = None
    if data.ndim == 3:
        if interleave == "pixel":
            data, planar = np.ascontiguousarray(np.moveaxis(data, 0, -1)), "contig"
        else:
            planar = "separate"
    geokeys = (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, int(epsg))
    tags = [
        (TAG_PIXEL_SCALE, 12, 3, (float(pixel_size), float(pixel_size), 0.0), False),
        (TAG_TIEPOINT, 12, 6, (0.0, 0.0, 0.0, float(origin[0]), float(origin[1]), 0.0), False),
        (TAG_GEOKEYS, 3, len(geokeys), geokeys, False),
    ]
    if nodata is not None:
        tags.append((TAG_GDAL_NODATA, 2, 0, str(nodata), False))
    tifffile.imwrite(
        path,
        data,
        photometric="minisblack",
        planarconfig=planar,
        rowsperstrip=rows_per_strip,
        metadata=None,
        extratags=tags,
    )


def read_georeference(path: str | Path) -> dict[str, Any]:
    """The pixel size, upper-left origin and EPSG code of a GeoTIFF (``None`` where a tag is absent)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        geo = tif.pages[0].geotiff_tags or {}
    scale, tie = geo.get("ModelPixelScale"), geo.get("ModelTiepoint")
    epsg = geo.get("ProjectedCSTypeGeoKey", geo.get("GeographicTypeGeoKey"))
    return {
        "pixel_size": (float(scale[0]), float(scale[1])) if scale else None,
        "origin": (float(tie[3]), float(tie[4])) if tie else None,
        "epsg": int(epsg) if epsg is not None else None,
    }


def canonical_band(name: str) -> str:
    """Sentinel-2 band name in the ESA spelling (``b8a``, ``B08A`` -> ``B8A``)."""
    upper = str(name).strip().upper()
    return BAND_ALIASES.get(upper, upper)


def select_bands(requested: Sequence[str] | None, available: Sequence[str], dataset: str) -> list[str]:
    """The band names to load, in the requested order (``None``: all of ``available``)."""
    if requested is None:
        return list(available)
    if len(requested) == 0:
        raise ValueError(f"data.bands is empty; give band names of {dataset}: {', '.join(available)}")
    chosen = [canonical_band(b) for b in requested]
    unknown = [b for b, c in zip(requested, chosen) if c not in available]
    if unknown:
        near = closest(str(unknown[0]).upper(), list(available), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(
            f"data.bands: unknown band {unknown[0]!r}{hint}; {dataset} has {', '.join(available)}"
        )
    dupes = sorted({c for c in chosen if chosen.count(c) > 1})
    if dupes:
        raise ValueError(f"data.bands lists {', '.join(dupes)} more than once; give each band once")
    return chosen


class RasterSamples(Dataset):
    """A split streamed from disk: item ``i`` is ``(reader(sources[i]) as a C×H×W tensor, targets[i])``.

    ``targets`` (class indices or multi-hot rows) is kept as an attribute so that
    splitting code can stratify without reading images. ``reader`` must be picklable
    (a module-level function or a ``functools.partial`` of one) for DataLoader workers.
    """

    def __init__(
        self, sources: Sequence[Any], targets: torch.Tensor, reader: Callable[[Any], np.ndarray]
    ) -> None:
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
        self.sources = list(sources)
        self.targets = targets
        self.reader = reader

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.reader(self.sources[index])), self.targets[index]


def read_samples(
    sources: Sequence[Any], reader: Callable[[Any], np.ndarray], on_error: str, keep: bool
) -> tuple[list[int], np.ndarray | None, list[str]]:
    """Read every source: (indices read fine, their arrays stacked N×C×H×W if ``keep``, skip records).

    The stack is filled in place (no second copy of the split in memory). A sample
    whose shape differs from the first one's is a bad sample. Under
    ``on_error="raise"`` the first bad sample raises its :class:`SampleError`.
    """
    good: list[int] = []
    skipped: list[str] = []
    stack = None
    check = reader if keep else getattr(reader, "check", reader)  # a pack checks a record without upsampling
    for i, source in enumerate(sources):
        try:
            arr = check(source)
            if arr is None:
                good.append(i)
                continue
            if stack is not None and arr.shape != stack.shape[1:]:
                raise SampleError(
                    source, f"image shape {arr.shape} differs from the split's {tuple(stack.shape[1:])}"
                )
        except SampleError as exc:
            if on_error != "skip":
                raise
            skipped.append(exc.record)
            continue
        if keep:
            if stack is None:
                stack = np.empty((len(sources), *arr.shape), dtype=arr.dtype)
            stack[len(good)] = arr
        good.append(i)
    return good, (stack[: len(good)] if stack is not None else None), skipped


def build_split(
    sources: Sequence[Any],
    targets: torch.Tensor,
    reader: Callable[[Any], np.ndarray],
    *,
    in_memory: bool,
    on_error: str,
    what: str,
) -> tuple[TensorSplit | RasterSamples, list[str]]:
    """One split, in memory (decoded now) or streamed; bad samples raise or are dropped and recorded.

    Streaming under ``on_error="skip"`` reads every sample once here to find the bad
    ones, so both paths hold the same samples. Streaming under ``raise`` reads lazily:
    a bad sample raises when the DataLoader reaches it.
    """
    skipped: list[str] = []
    stack = None
    if in_memory or on_error == "skip":
        good, stack, skipped = read_samples(sources, reader, on_error, keep=in_memory)
        if len(good) < len(sources):
            sources = [sources[i] for i in good]
            targets = targets[torch.tensor(good, dtype=torch.long)]
    if len(sources) == 0:
        first = f"; first: {skipped[0]}" if skipped else ""
        raise ValueError(f"the {what} split has no usable samples ({len(skipped)} skipped{first})")
    if in_memory:
        return TensorSplit(torch.from_numpy(stack), targets), skipped
    if hasattr(reader, "samples"):  # a pack: batches read at native resolution
        return reader.samples(sources, targets), skipped
    return RasterSamples(sources, targets, reader), skipped


def assemble_splits(
    cfg: Any,
    entries: dict[str, tuple[list[Any], torch.Tensor]],
    reader: Callable[[Any], np.ndarray],
) -> tuple[dict[str, TensorSplit | RasterSamples | None], list[str]]:
    """Turn per-split ``(sources, targets)`` into train/val/test splits of a :class:`DataConfig` ``cfg``.

    ``entries`` holds ``train``, ``test`` and optionally ``val``, or a single ``all``
    from which ``data.test_split`` is carved (stratified for class-index targets) with
    ``data.split_seed``. ``data.limit`` is applied before any image is read when no
    validation split is carved later (the result is the same, without decoding
    images that would be dropped). Returns the splits and the skip records.
    """
    from archlab.data.datasets import carve_split

    entries = dict(entries)
    if "all" in entries:
        sources, targets = entries.pop("all")
        if len(sources) < 2:
            raise ValueError(f"found {len(sources)} usable sample(s); need at least 2 to carve a test split")
        index = TensorSplit(torch.arange(len(sources)), targets)
        if targets.ndim == 1 and not _can_stratify(targets, cfg.test_split):
            index = TensorSplit(index.x, targets[:, None])  # too few samples per class: a plain random split
        keep, held = carve_split(index, cfg.test_split, cfg.split_seed, "data.test_split")
        keep_y, held_y = (keep.y, held.y) if targets.ndim > 1 else (keep.y.view(-1), held.y.view(-1))
        entries["train"] = ([sources[i] for i in keep.x.tolist()], keep_y)
        entries["test"] = ([sources[i] for i in held.x.tolist()], held_y)
    if cfg.limit > 0 and cfg.val_split == 0:
        entries = {k: (s[: cfg.limit], t[: cfg.limit]) for k, (s, t) in entries.items()}
    out: dict[str, TensorSplit | RasterSamples | None] = {"val": None}
    skipped: list[str] = []
    for key in ("train", "val", "test"):
        if key not in entries:
            continue
        sources, targets = entries[key]
        out[key], dropped = build_split(
            sources, targets, reader, in_memory=cfg.in_memory, on_error=cfg.on_error, what=key
        )
        skipped += dropped
    return out, skipped


def _can_stratify(labels: torch.Tensor, fraction: float) -> bool:
    """Whether scikit-learn can stratify a split of ``labels`` holding out ``fraction``: both sides need a sample per class."""
    import math

    n, classes = len(labels), int(torch.unique(labels).numel())
    held = math.ceil(fraction * n)
    return held >= classes and n - held >= classes
