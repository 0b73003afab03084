"""Augmentation of whole batches on the device.

Every random draw of a batch comes from one ``torch.Generator`` (on the CPU, a
few numbers per sample), then the work runs as batched tensor ops where the
data lives: one ``affine_grid`` + ``grid_sample`` for rotation, translation and
scale; gathers for padded random crops; ``torch.where`` for flips; a mask for
cutout. Mixup and cutmix return the partner labels and mixing weight; the loss
mixes the two targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from archlab.data.inputspec import InputSpec, rescale, standardize


@dataclass
class Mixed:
    """Targets of a mixed batch: ``lam * loss(y) + (1 - lam) * loss(y_b)``."""

    y: torch.Tensor
    y_b: torch.Tensor
    lam: float


class BatchTransform:
    """uint8 batch -> normalised float batch, with train-time augmentation.

    The normalisation is :func:`archlab.data.inputspec.normalize`, in its two steps:
    :func:`~archlab.data.inputspec.rescale` first, the geometric augmentations, then
    :func:`~archlab.data.inputspec.standardize`, then cutout and mixing.
    ``aug`` is an :class:`archlab.config.AugmentConfig`; ``None`` means no augmentation.
    """

    def __init__(
        self,
        mean: list[float],
        std: list[float],
        scale: float = 255.0,
        aug=None,
        normalize: bool = True,
        resize: list[int] | tuple[int, int] | None = None,
    ):
        self.resize = tuple(int(v) for v in resize) if resize else None
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)
        self.scale = float(scale)
        self.aug = aug
        self.normalize = normalize
        self._device = None

    @classmethod
    def of_spec(cls, spec: InputSpec, aug=None) -> BatchTransform:
        """The transform of a model's :class:`~archlab.data.inputspec.InputSpec` (its ``preprocess``, plus ``aug``)."""
        return cls(
            list(spec.mean),
            list(spec.std),
            spec.scale,
            aug,
            normalize=spec.normalized,
            resize=spec.input_size[1:],
        )

    def _to(self, device: torch.device) -> None:
        if self._device != device:
            self.mean, self.std = self.mean.to(device), self.std.to(device)
            self._device = device

    @property
    def geometric(self) -> bool:
        a = self.aug
        return a is not None and (a.rotation > 0 or a.translate > 0 or tuple(a.scale) != (1.0, 1.0))

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | Mixed]:
        self._to(x.device)
        x = rescale(x, self.scale)
        if self.resize is not None and tuple(x.shape[-2:]) != self.resize:
            x = resize_batch(x, self.resize)
        a = self.aug
        if a is not None:
            g = generator
            if self.geometric:
                x = random_affine(x, a.rotation, a.translate, tuple(a.scale), g)
            if a.crop_padding > 0:
                x = random_crop(x, a.crop_padding, g)
            if a.hflip:
                x = random_flip(x, -1, g)
            if a.vflip:
                x = random_flip(x, -2, g)
        if self.normalize:
            x = standardize(x, self.mean, self.std)
        if a is not None:
            if a.cutout > 0:
                x = cutout(x, a.cutout, g)
            if a.mixup > 0 or a.cutmix > 0:
                return mix(x, y, a.mixup, a.cutmix, g)
        return x, y


def resize_batch(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """N×C×H×W bilinearly to ``size`` on the batch's device (antialiased when shrinking): ``data.resize``."""
    shrink = x.shape[-2] > size[0] or x.shape[-1] > size[1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def _uniform(n: int, low: float, high: float, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=g) * (high - low) + low


def random_affine(
    x: torch.Tensor, degrees: float, translate: float, scale: tuple[float, float], g: torch.Generator | None
) -> torch.Tensor:
    """Rotate by U(-degrees, degrees), shift by U(-t, t)·size, zoom by U(scale); zero fill, bilinear."""
    n = x.shape[0]
    angle = _uniform(n, -degrees, degrees, g) * (math.pi / 180.0)
    zoom = _uniform(n, scale[0], scale[1], g)
    # affine_grid works in [-1, 1] coordinates: a shift of t·size is 2t there.
    tx = _uniform(n, -translate, translate, g) * 2.0
    ty = _uniform(n, -translate, translate, g) * 2.0
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, -tx], 1), torch.stack([sin, cos, -ty], 1)], 1).to(
        device=x.device, dtype=x.dtype
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_crop(x: torch.Tensor, padding: int, g: torch.Generator | None) -> torch.Tensor:
    """Zero-pad by ``padding`` and crop back to the original size at a random offset per sample."""
    n, c, h, w = x.shape
    xp = F.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=g).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=g).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]  # n×h
    cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]  # n×w
    xp = torch.gather(xp, 2, rows[:, None, :, None].expand(n, c, h, xp.shape[3]))
    return torch.gather(xp, 3, cols[:, None, None, :].expand(n, c, h, w))


def random_flip(x: torch.Tensor, dim: int, g: torch.Generator | None) -> torch.Tensor:
    """Flip each sample along ``dim`` with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=g) < 0.5).to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(dim), x)


def _boxes(n: int, h: int, w: int, bh: torch.Tensor, bw: torch.Tensor, g, device) -> torch.Tensor:
    """A boolean n×1×h×w mask of one box per sample, centred uniformly, clipped at the border."""
    cy = torch.randint(0, h, (n,), generator=g)
    cx = torch.randint(0, w, (n,), generator=g)
    y0, y1 = (cy - bh // 2).clamp(0, h), (cy + (bh + 1) // 2).clamp(0, h)
    x0, x1 = (cx - bw // 2).clamp(0, w), (cx + (bw + 1) // 2).clamp(0, w)
    ys, xs = torch.arange(h)[None, :], torch.arange(w)[None, :]
    my = (ys >= y0[:, None]) & (ys < y1[:, None])
    mx = (xs >= x0[:, None]) & (xs < x1[:, None])
    return (my[:, :, None] & mx[:, None, :]).unsqueeze(1).to(device)


def cutout(x: torch.Tensor, size: int, g: torch.Generator | None) -> torch.Tensor:
    """Erase (set to 0, the mean after normalisation) a size×size square per sample."""
    n, _, h, w = x.shape
    side = torch.full((n,), size)
    return x.masked_fill(_boxes(n, h, w, side, side, g, x.device), 0.0)


def mix(
    x: torch.Tensor, y: torch.Tensor, mixup: float, cutmix: float, g: torch.Generator | None
) -> tuple[torch.Tensor, Mixed]:
    """Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019) with a partner drawn by permutation.

    With both enabled, each batch picks one of the two with probability 1/2.
    """
    n, _, h, w = x.shape
    perm = torch.randperm(n, generator=g).to(x.device)
    use_cutmix = cutmix > 0 and (mixup <= 0 or torch.rand(1, generator=g).item() < 0.5)
    alpha = cutmix if use_cutmix else mixup
    lam = float(torch.distributions.Beta(alpha, alpha).sample() if g is None else _beta(alpha, g))
    if use_cutmix:
        cut = math.sqrt(1.0 - lam)
        bh, bw = torch.full((1,), int(h * cut)), torch.full((1,), int(w * cut))
        box = _boxes(1, h, w, bh, bw, g, x.device)
        x = torch.where(box, x[perm], x)
        lam = 1.0 - box.float().mean().item()  # the area actually pasted
    else:
        x = lam * x + (1.0 - lam) * x[perm]
    return x, Mixed(y, y[perm], lam)


def _beta(alpha: float, g: torch.Generator) -> float:
    """A Beta(alpha, alpha) draw from ``g`` (via two Gamma draws made from uniforms)."""
    a = torch._standard_gamma(torch.tensor([alpha, alpha], dtype=torch.float64), generator=g)
    return float(a[0] / a.sum())
