"""Display of ``archlab explain``'s inputs: RGB composites of what :mod:`archlab.data.reader` read.

Inputs are read by the one reader (:func:`archlab.data.reader.read_inputs`) in the dataset's
stored units and fed through the run's :meth:`InputSpec.preprocess`; this module only turns
them into pictures: 8-bit image files as they are, arrays and GeoTIFFs as a percentile-stretched
composite of three bands.
"""

from __future__ import annotations

import numpy as np

from archlab.data.reader import Input

DEFAULT_RGB = ("B04", "B03", "B02")  # Sentinel-2 red, green, blue


def rgb_indices(bands: list[str], channels: int, chosen: list[str] | None = None) -> list[int]:
    """Band indices of the RGB composite: ``chosen`` names, else B04/B03/B02 when present, else the first three."""
    names = (
        [str(b) for b in bands]
        if bands and len(bands) == channels
        else [f"band{i + 1}" for i in range(channels)]
    )
    if chosen:
        if len(chosen) != 3:
            raise ValueError(
                f"an RGB composite takes 3 band names, got {len(chosen)}: {chosen}; e.g. --bands B04 B03 B02"
            )
        missing = [b for b in chosen if b not in names]
        if missing:
            raise ValueError(f"band(s) {missing} not in this model's bands {names}; choose three of those")
        return [names.index(b) for b in chosen]
    if all(b in names for b in DEFAULT_RGB):
        return [names.index(b) for b in DEFAULT_RGB]
    if channels >= 3:
        return [0, 1, 2]
    return [0, 0, 0]


def stretch(band: np.ndarray, low: float = 2.0, high: float = 98.0) -> np.ndarray:
    """Percentile stretch of one band to [0, 1]: the ``low``-th percentile to 0, the ``high``-th to 1."""
    lo, hi = np.percentile(band, [low, high])
    if hi <= lo:
        hi = lo + 1e-12
    return np.clip((band - lo) / (hi - lo), 0.0, 1.0)


def display_rgb(img: Input, bands: list[str], chosen: list[str] | None = None) -> np.ndarray:
    """H×W×3 float in [0, 1] for display: 8-bit files as they are, arrays as a percentile-stretched composite."""
    x = img.x.numpy()
    idx = rgb_indices(bands, x.shape[0], chosen)
    if img.eight_bit:
        return np.clip(np.stack([x[i] for i in idx], axis=-1) / 255.0, 0.0, 1.0)
    return np.stack([stretch(x[i]) for i in idx], axis=-1)
