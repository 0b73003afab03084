"""Per-sample weights for a weighted sampler, from class frequencies.

Three class-weight rules (``n_c`` = training samples of class ``c``):

* ``inverse``: ``1 / n_c`` — every class equally likely per draw. Seed 002 blames this rule for the
  collapse of its frequent classes 4–6: they are drawn as rarely as the rarest class;
* ``sqrt_inverse``: ``1 / sqrt(n_c)`` — halfway between the data's frequencies and uniform;
* ``effective``: ``(1 - beta) / (1 - beta^n_c)`` — the effective number of samples
  (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019).

A multi-label sample takes the largest weight among its labels (its rarest class).
:func:`sampler_effect` gives, per class, the share of draws before and after weighting,
which the run writes to ``sampler.json`` so the report can show the effect.
"""

from __future__ import annotations

import torch


def class_counts(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Samples per class (single-label indices) or label occurrences per class (multi-hot rows)."""
    if y.ndim == 1:
        return torch.bincount(y.long(), minlength=num_classes)
    return (y > 0.5).sum(0).long()


def class_weights(counts: torch.Tensor, rule: str, beta: float = 0.999) -> torch.Tensor:
    n = counts.double().clamp_min(1)
    if rule == "inverse":
        w = 1.0 / n
    elif rule == "sqrt_inverse":
        w = 1.0 / n.sqrt()
    elif rule == "effective":
        if not 0.0 < beta < 1.0:
            raise ValueError(f"data.sampler_beta must be in (0, 1), got {beta}")
        w = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), n))
    else:
        raise ValueError(f"unknown sampler rule {rule!r}; use inverse, sqrt_inverse or effective")
    return torch.where(counts > 0, w, torch.zeros_like(w))


def sample_weights(y: torch.Tensor, num_classes: int, rule: str, beta: float = 0.999) -> torch.Tensor:
    """One weight per training sample, for ``torch.multinomial`` / ``WeightedRandomSampler``."""
    w = class_weights(class_counts(y, num_classes), rule, beta)
    if y.ndim == 1:
        return w[y.long()].float()
    per = torch.where(y > 0.5, w[None, :], torch.zeros_like(w)[None, :])
    out = per.max(1).values
    if (out == 0).any():
        raise ValueError("some multi-label training samples have no label; the sampler cannot weigh them")
    return out.float()


def sampler_effect(y: torch.Tensor, weights: torch.Tensor, classes: list[str]) -> list[dict]:
    """Per class: its share of the data and its expected share of draws under ``weights``."""
    k = len(classes)
    onehot = torch.nn.functional.one_hot(y.long(), k).double() if y.ndim == 1 else (y > 0.5).double()
    natural = onehot.mean(0)
    p = weights.double() / weights.double().sum()
    drawn = (p[:, None] * onehot).sum(0)
    return [
        {
            "class": c,
            "data_share": float(natural[i]),
            "sampled_share": float(drawn[i]),
            "ratio": float(drawn[i] / natural[i]) if natural[i] > 0 else None,
        }
        for i, c in enumerate(classes)
    ]
