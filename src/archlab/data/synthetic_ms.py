"""A synthetic multispectral multi-label set whose labels are carried by spectral signatures.

Each class has a fixed spectrum (one value per band). An image is a mosaic of 1 to
``max_labels`` land covers: random smooth fields split the image into regions, each
region takes the spectrum of its class (times a per-image gain and a mild texture)
plus per-pixel noise. The label set is the classes that cover at least
``min_fraction`` of the image, so a model must recognise spectra, not shapes, to
learn it: a per-pixel spectral classifier with a max over the image solves it.
The same machinery writes the BigEarthNet and EuroSAT fixtures (:mod:`archlab.data.fixtures`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from archlab.data.datasets import TensorDataset, TensorSplit, channel_stats, register_dataset
from archlab.data.geotiff import RasterSamples


def class_signatures(
    num_classes: int, mean: Sequence[float], std: Sequence[float], seed: int, spread: float = 0.8
) -> torch.Tensor:
    """K×C class spectra: ``mean + spread * std * z`` per band with z ~ N(0, 1), floored at a tenth of the mean."""
    g = torch.Generator().manual_seed(seed)
    mean_t = torch.tensor(list(mean), dtype=torch.float64)
    std_t = torch.tensor(list(std), dtype=torch.float64)
    z = torch.randn(num_classes, len(mean_t), generator=g, dtype=torch.float64)
    return torch.maximum(mean_t + spread * std_t * z, 0.1 * mean_t)


def _smooth(n: int, k: int, size: int, coarse: int, g: torch.Generator) -> torch.Tensor:
    """n×k×size×size smooth random fields (bicubic upsampling of coarse Gaussian noise)."""
    noise = torch.randn(n, k, coarse, coarse, generator=g)
    return F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)


def _render(
    cls_map: torch.Tensor, signatures: torch.Tensor, band_std: torch.Tensor, noise: float, g: torch.Generator
) -> torch.Tensor:
    """Pixels of a class map (n×S×S): class spectrum × gain × texture + noise × band std (float32 n×C×S×S)."""
    n, size = cls_map.shape[0], cls_map.shape[-1]
    x = signatures.float().t()[:, cls_map].transpose(0, 1).contiguous()  # n×C×S×S
    gain = 1.0 + 0.08 * torch.randn(n, 1, 1, 1, generator=g).clamp(-2.5, 2.5)
    texture = 1.0 + 0.04 * _smooth(n, 1, size, max(2, size // 8), g)
    x = x * gain * texture
    return x + noise * band_std.float().view(1, -1, 1, 1) * torch.randn(x.shape, generator=g)


def spectral_mixture(
    n: int,
    signatures: torch.Tensor,
    size: int,
    max_labels: int,
    noise: float,
    band_std: torch.Tensor,
    g: torch.Generator,
    min_fraction: float = 0.05,
    chunk: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` mosaic images (float32 n×C×size×size, stored units) and their multi-hot labels (float32 n×K)."""
    k = signatures.shape[0]
    slots = max(1, min(max_labels, k))
    images, targets = [], []
    for start in range(0, n, chunk):
        b = min(chunk, n - start)
        count = torch.randint(1, slots + 1, (b,), generator=g)
        slot_cls = torch.rand(b, k, generator=g).argsort(dim=1)[:, :slots]  # distinct classes per image
        fields = _smooth(b, slots, size, 3, g)
        unused = torch.arange(slots)[None, :] >= count[:, None]
        fields = fields.masked_fill(unused[:, :, None, None], float("-inf"))
        seg = fields.argmax(dim=1)  # b×S×S slot index
        frac = F.one_hot(seg, slots).float().mean(dim=(1, 2))  # b×slots
        largest = frac.argmax(dim=1)
        valid = (frac >= min_fraction) & (frac > 0)
        valid[torch.arange(b), largest] = True
        seg = torch.where(valid.gather(1, seg.view(b, -1)).view_as(seg), seg, largest[:, None, None])
        cls_map = slot_cls.gather(1, seg.view(b, -1)).view_as(seg)
        y = torch.zeros(b, k, dtype=torch.float32)
        y.scatter_(1, slot_cls, valid.float())
        images.append(_render(cls_map, signatures, band_std, noise, g))
        targets.append(y)
    return torch.cat(images), torch.cat(targets)


def single_class_images(
    labels: torch.Tensor,
    signatures: torch.Tensor,
    size: int,
    noise: float,
    band_std: torch.Tensor,
    g: torch.Generator,
) -> torch.Tensor:
    """One image per entry of ``labels`` (class indices), each filled by its class spectrum (float32 n×C×S×S)."""
    cls_map = labels.view(-1, 1, 1).expand(-1, size, size)
    return _render(cls_map, signatures, band_std, noise, g)


def to_stored(x: torch.Tensor) -> torch.Tensor:
    """Round and clip float reflectances to uint16, the stored unit of Sentinel-2 products."""
    return x.round().clamp(0, 65535).to(torch.uint16)


def band_levels(channels: int) -> tuple[list[str], list[float], list[float]]:
    """Band names and per-band mean/std levels for ``channels`` bands (Sentinel-2 levels for 12 or 13)."""
    from archlab.data.bigearthnet import BAND_MEAN, BAND_STD, S2_BANDS
    from archlab.data.eurosat import EUROSAT_BANDS, EUROSAT_MEAN, EUROSAT_STD

    if channels == len(S2_BANDS):
        return list(S2_BANDS), [BAND_MEAN[b] for b in S2_BANDS], [BAND_STD[b] for b in S2_BANDS]
    if channels == len(EUROSAT_BANDS):
        bands = list(EUROSAT_BANDS)
        return bands, [EUROSAT_MEAN[b] for b in bands], [EUROSAT_STD[b] for b in bands]
    names = [f"band{i + 1}" for i in range(channels)]
    return names, [1000.0 + 150.0 * i for i in range(channels)], [500.0] * channels


@register_dataset("synthetic_ms")
def synthetic_ms(cfg) -> TensorDataset:
    """Multi-label mosaics of ``data.synthetic.num_classes`` spectral classes, uint16, seeded by ``data.split_seed``.

    ``data.synthetic``: ``channels`` (12 gives BigEarthNet's bands and levels), ``size``,
    ``train_samples``, ``test_samples``, ``noise`` (per-pixel noise in band standard
    deviations), ``max_labels`` (classes per image, 1 to this).
    """
    s = cfg.synthetic
    if s.num_classes < 2 or s.channels < 1 or s.size < 8 or s.max_labels < 1:
        raise ValueError(
            "data.synthetic for synthetic_ms needs num_classes >= 2, channels >= 1, size >= 8 and max_labels >= 1, "
            f"got {s.num_classes}, {s.channels}, {s.size}, {s.max_labels}"
        )
    bands, mean, std = band_levels(s.channels)
    signatures = class_signatures(s.num_classes, mean, std, seed=cfg.split_seed)
    band_std = torch.tensor(std, dtype=torch.float64)
    g = torch.Generator().manual_seed(cfg.split_seed + 1)

    def make(n: int) -> TensorSplit:
        x, y = spectral_mixture(n, signatures, s.size, s.max_labels, s.noise, band_std, g)
        return TensorSplit(to_stored(x), y)

    train, test = make(s.train_samples), make(s.test_samples)
    stat_mean, stat_std = channel_stats(train.x, 1.0)
    if not cfg.in_memory:
        train, test = (RasterSamples(list(t.x.numpy()), t.y, _identity) for t in (train, test))
    return TensorDataset(
        "synthetic_ms",
        train,
        test,
        [f"class{i}" for i in range(s.num_classes)],
        mean=stat_mean,
        std=stat_std,
        bands=bands,
        scale=1.0,
        task="multi_label",
    )


def _identity(array):
    return array
