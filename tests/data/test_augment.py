"""Batch augmentation: crops move content by whole pixels, the identity affine, flips, cutout, mixup/cutmix."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from archlab.config import AugmentConfig
from archlab.data import BatchTransform
from archlab.data.augment import Mixed, cutout, mix, random_affine, random_crop, random_flip


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def distinct_images(n: int = 6, c: int = 2, h: int = 7, w: int = 5) -> torch.Tensor:
    """Images whose every pixel value is distinct and positive, so any shift is identifiable."""
    return torch.arange(1, n * c * h * w + 1, dtype=torch.float32).view(n, c, h, w)


@pytest.mark.parametrize("padding", [1, 2, 3])
def test_padded_crop_is_an_integer_shift_within_padding(padding: int) -> None:
    x = distinct_images()
    out = random_crop(x, padding, gen(padding))
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = F.pad(x, (padding,) * 4)
    h, w = x.shape[2:]
    offsets = set()
    for i in range(x.shape[0]):
        matches = [
            (dy, dx)
            for dy in range(2 * padding + 1)
            for dx in range(2 * padding + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + h, dx : dx + w])
        ]
        assert len(matches) == 1, f"sample {i} is not a window of the zero-padded input"
        offsets.add(matches[0])
    assert len(offsets) > 1  # offsets drawn per sample


def test_identity_affine() -> None:
    """Rotation 0, translation 0 and scale 1 sample every pixel at its own centre."""
    x = torch.rand(4, 3, 9, 11, generator=gen())
    out = random_affine(x, 0.0, 0.0, (1.0, 1.0), gen())
    assert out.shape == x.shape
    assert torch.allclose(out, x, atol=1e-5)


def test_affine_keeps_a_constant_image_inside_and_fills_zeros() -> None:
    x = torch.ones(8, 1, 16, 16)
    out = random_affine(x, 30.0, 0.0, (1.0, 1.0), gen())
    assert torch.allclose(out[:, :, 6:10, 6:10], torch.ones(8, 1, 4, 4), atol=1e-5)  # centre stays
    assert float(out.min()) < 1.0 and float(out.min()) >= 0.0  # corners rotate out: zero fill


def test_affine_is_reproducible_with_the_same_generator() -> None:
    x = torch.rand(5, 1, 12, 12, generator=gen(1))
    a = random_affine(x, 15.0, 0.1, (0.9, 1.1), gen(7))
    b = random_affine(x, 15.0, 0.1, (0.9, 1.1), gen(7))
    assert torch.equal(a, b) and not torch.allclose(a, x)


@pytest.mark.parametrize("dim", [-1, -2])
def test_flips_are_involutions(dim: int) -> None:
    x = distinct_images(n=16)
    once = random_flip(x, dim, gen(3))
    flipped = [torch.equal(once[i], x[i].flip(dim)) for i in range(16)]
    kept = [torch.equal(once[i], x[i]) for i in range(16)]
    assert all(f != k for f, k in zip(flipped, kept))  # each sample is either flipped or untouched
    assert any(flipped) and any(kept)
    assert torch.equal(random_flip(once, dim, gen(3)), x)  # the same draws undo the flips


def test_cutout_erases_one_clipped_square_per_sample() -> None:
    x = torch.ones(32, 2, 10, 10)
    out = cutout(x, 4, gen())
    for i in range(32):
        zero = out[i, 0] == 0
        assert torch.equal(zero, out[i, 1] == 0)  # the same square on every channel
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert 2 <= len(rows) <= 4 and 2 <= len(cols) <= 4  # a centre at the border clips the square
        assert int(zero.sum()) == len(rows) * len(cols)  # a solid rectangle
        assert rows.tolist() == list(range(int(rows[0]), int(rows[-1]) + 1))


def test_mixup_mixes_images_and_permutes_targets_consistently() -> None:
    n = 12
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    y = torch.arange(n)  # label i for image i
    out, target = mix(x, y, 0.4, 0.0, gen(2))
    assert isinstance(target, Mixed) and 0.0 <= target.lam <= 1.0
    assert torch.equal(target.y, y)
    assert sorted(target.y_b.tolist()) == list(range(n))  # a permutation of the batch
    expected = target.lam * x + (1.0 - target.lam) * x[target.y_b]  # the partner image carries y_b
    assert torch.allclose(out, expected, atol=1e-6)


def test_mixup_lam_stays_in_unit_interval() -> None:
    g = gen(5)
    lams = [
        mix(torch.rand(4, 1, 2, 2), torch.arange(4), alpha, 0.0, g)[1].lam for alpha in (0.1, 0.2, 1.0, 5.0)
    ]
    assert all(0.0 <= v <= 1.0 for v in lams) and len(set(lams)) == 4


def test_cutmix_lam_is_the_area_kept() -> None:
    n, h, w = 10, 8, 8
    x = (torch.arange(n, dtype=torch.float32) + 1).view(n, 1, 1, 1).expand(n, 1, h, w).contiguous()
    y = torch.arange(n)
    out, target = mix(x, y, 0.0, 1.0, gen(4))
    assert 0.0 <= target.lam <= 1.0
    for i in range(n):
        own = out[i] == x[i, 0, 0, 0]
        partner = out[i] == x[int(target.y_b[i]), 0, 0, 0]
        assert torch.all(own | partner)
        if int(target.y_b[i]) != i:
            assert float(own.float().mean()) == pytest.approx(target.lam)


def test_mixup_and_cutmix_together_pick_one_per_batch() -> None:
    g, kinds = gen(0), set()
    for _ in range(20):
        x = torch.rand(6, 1, 8, 8)
        out, target = mix(x, torch.arange(6), 0.5, 0.5, g)
        is_mixup = torch.allclose(out, target.lam * x + (1 - target.lam) * x[target.y_b], atol=1e-6)
        kinds.add(is_mixup)
    assert kinds == {True, False}


def test_transform_without_augmentation_normalises_exactly() -> None:
    x = torch.randint(0, 256, (3, 2, 4, 4), dtype=torch.uint8, generator=gen())
    y = torch.tensor([0, 1, 2])
    tf = BatchTransform([0.5, 0.25], [0.2, 0.1])
    out, target = tf(x, y)
    mean, std = torch.tensor([0.5, 0.25]).view(1, 2, 1, 1), torch.tensor([0.2, 0.1]).view(1, 2, 1, 1)
    assert out.dtype == torch.float32 and torch.allclose(out, (x.float() / 255 - mean) / std, atol=1e-6)
    assert target is y
    raw, _ = BatchTransform([0.5, 0.25], [0.2, 0.1], normalize=False)(x, y)
    assert torch.allclose(raw, x.float() / 255)


def test_full_augmentation_is_reproducible_and_keeps_shapes() -> None:
    aug = AugmentConfig(
        rotation=10.0,
        translate=0.1,
        scale=[0.9, 1.1],
        crop_padding=1,
        hflip=True,
        vflip=True,
        cutout=2,
        mixup=0.2,
    )
    tf = BatchTransform([0.3], [0.4], aug=aug)
    assert tf.geometric
    x = torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8, generator=gen())
    y = torch.arange(8)
    a, ta = tf(x, y, gen(11))
    b, tb = tf(x, y, gen(11))
    assert a.shape == (8, 1, 8, 8) and torch.equal(a, b)
    assert isinstance(ta, Mixed) and torch.equal(ta.y_b, tb.y_b) and ta.lam == tb.lam
    c, _ = tf(x, y, gen(12))
    assert not torch.equal(a, c)


def test_default_augment_config_is_not_geometric() -> None:
    assert not BatchTransform([0.0], [1.0], aug=AugmentConfig()).geometric
    x = torch.randint(0, 256, (2, 1, 3, 3), dtype=torch.uint8, generator=gen())
    out, _ = BatchTransform([0.0], [1.0], aug=AugmentConfig())(x, torch.zeros(2, dtype=torch.long), gen())
    assert torch.allclose(out, x.float() / 255)


def test_transform_normalises_with_the_one_formula_bit_for_bit() -> None:
    """Without augmentation the batch transform is ``InputSpec.preprocess`` exactly, not just close."""
    from archlab.data.inputspec import InputSpec

    spec = InputSpec(
        input_size=(3, 5, 4),
        classes=("a", "b"),
        mean=(0.11, 0.52, 0.33),
        std=(0.07, 0.21, 0.4),
        scale=10000.0,
    )
    x = torch.randint(0, 10000, (6, 3, 5, 4), dtype=torch.int16, generator=gen(9))
    y = torch.zeros(6, dtype=torch.long)
    tf = BatchTransform.of_spec(spec)
    assert torch.equal(tf(x, y)[0], spec.preprocess(x))
    assert torch.equal(
        BatchTransform(list(spec.mean), list(spec.std), spec.scale)(x, y)[0], spec.preprocess(x)
    )
    off = InputSpec(**{**spec.__dict__, "normalize": False})
    assert torch.equal(BatchTransform.of_spec(off)(x, y)[0], off.preprocess(x))
    floats = x.float()
    kept = floats.clone()
    tf(floats, y)
    assert torch.equal(floats, kept)  # the caller's float batch is not divided in place
