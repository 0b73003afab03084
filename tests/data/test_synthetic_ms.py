"""The synthetic multispectral multi-label set: labels are the spectral classes present in the image."""

from __future__ import annotations

import pytest
import torch

from archlab.config import DataConfig, SyntheticConfig
from archlab.data import TensorSplit, load_dataset
from archlab.data.bigearthnet import BAND_MEAN, BAND_STD, S2_BANDS
from archlab.data.synthetic_ms import class_signatures, spectral_mixture


def cfg(**kw) -> DataConfig:
    syn = dict(
        num_classes=6, channels=12, size=16, train_samples=64, test_samples=32, noise=0.35, max_labels=3
    )
    syn.update(kw.pop("synthetic", {}))
    return DataConfig(name="synthetic_ms", synthetic=SyntheticConfig(**syn), **kw)


def nearest_signature(x: torch.Tensor, signatures: torch.Tensor) -> torch.Tensor:
    """Per-pixel class by cosine similarity of the pixel spectrum to each class spectrum (n×S×S)."""
    pix = torch.nn.functional.normalize(x.double().permute(0, 2, 3, 1), dim=-1)
    sig = torch.nn.functional.normalize(signatures.double(), dim=-1)
    return (pix @ sig.T).argmax(dim=-1)


def test_shapes_types_and_label_counts() -> None:
    ds = load_dataset(cfg())
    assert ds.train.x.shape == (64, 12, 16, 16) and ds.train.x.dtype == torch.uint16
    assert ds.train.y.shape == (64, 6) and ds.train.y.dtype == torch.float32 and ds.task == "multi_label"
    per_image = ds.train.y.sum(dim=1)
    assert per_image.min() >= 1 and per_image.max() <= 3
    assert ds.bands == list(S2_BANDS) and ds.scale == 1.0 and ds.classes[0] == "class0"
    mean = ds.train.x.double().mean(dim=(0, 2, 3))
    assert torch.allclose(torch.tensor(ds.mean, dtype=torch.float64), mean, rtol=1e-6)


def test_labels_are_exactly_the_spectra_present_without_noise() -> None:
    """With noise 0, classifying each pixel by its spectrum's direction recovers every image's label set."""
    sig = class_signatures(5, [BAND_MEAN[b] for b in S2_BANDS], [BAND_STD[b] for b in S2_BANDS], seed=3)
    g = torch.Generator().manual_seed(0)
    x, y = spectral_mixture(40, sig, 24, 3, 0.0, torch.ones(12), g, min_fraction=0.05)
    classes = nearest_signature(x, sig)
    found = torch.zeros_like(y)
    for i in range(len(x)):
        found[i, classes[i].unique()] = 1.0
    assert torch.equal(found, y)
    share = torch.stack([(classes == k).double().mean(dim=(1, 2)) for k in range(5)], dim=1)
    assert share[y.bool()].min() >= 0.05  # every labelled class covers at least min_fraction of its image


def test_noisy_set_is_learnable_from_spectra() -> None:
    """At the default noise, a nearest-spectrum rule (a class is present if it wins >= 3 % of pixels) scores F1 > 0.9."""
    ds = load_dataset(cfg(synthetic={"num_classes": 19}))
    sig = class_signatures(19, [BAND_MEAN[b] for b in S2_BANDS], [BAND_STD[b] for b in S2_BANDS], seed=0)
    classes = nearest_signature(ds.test.x.double(), sig)
    share = torch.stack([(classes == k).double().mean(dim=(1, 2)) for k in range(19)], dim=1)
    pred, y = share >= 0.03, ds.test.y.bool()
    tp = (pred & y).sum().item()
    f1 = 2 * tp / (pred.sum().item() + y.sum().item())
    assert f1 > 0.9, f1


def test_determinism_and_streaming() -> None:
    a, b = load_dataset(cfg()), load_dataset(cfg())
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    c = load_dataset(cfg(split_seed=1))
    assert not torch.equal(a.train.x, c.train.x)
    s = load_dataset(cfg(in_memory=False))
    assert not isinstance(s.train, TensorSplit) and s.mean == a.mean
    for i in (0, 17, 63):
        x, y = s.train[i]
        assert torch.equal(x, a.train.x[i]) and torch.equal(y, a.train.y[i])


def test_other_channel_counts_and_bad_config() -> None:
    ds = load_dataset(cfg(synthetic={"channels": 4, "max_labels": 1}))
    assert ds.bands == ["band1", "band2", "band3", "band4"] and (ds.train.y.sum(dim=1) == 1).all()
    with pytest.raises(ValueError, match="num_classes >= 2"):
        load_dataset(cfg(synthetic={"num_classes": 1}))
