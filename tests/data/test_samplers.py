"""Weighted sampling: class weights by rule, per-sample weights, and their per-class effect."""

import pytest
import torch

from archlab.data.samplers import class_weights, sample_weights, sampler_effect


def test_class_weight_rules() -> None:
    counts = torch.tensor([100, 25, 4])
    assert class_weights(counts, "inverse").tolist() == pytest.approx([0.01, 0.04, 0.25])
    assert class_weights(counts, "sqrt_inverse").tolist() == pytest.approx([0.1, 0.2, 0.5])
    beta = 0.9
    expected = [(1 - beta) / (1 - beta**n) for n in (100, 25, 4)]
    assert class_weights(counts, "effective", beta).tolist() == pytest.approx(expected)


def test_inverse_frequency_equalises_classes_and_sqrt_halves_the_skew() -> None:
    y = torch.tensor([0] * 90 + [1] * 10)
    classes = ["frequent", "rare"]
    inv = sampler_effect(y, sample_weights(y, 2, "inverse"), classes)
    assert [c["sampled_share"] for c in inv] == pytest.approx([0.5, 0.5])
    assert [c["data_share"] for c in inv] == pytest.approx([0.9, 0.1])
    sq = sampler_effect(y, sample_weights(y, 2, "sqrt_inverse"), classes)
    # shares proportional to sqrt(n): 3 : 1
    assert [c["sampled_share"] for c in sq] == pytest.approx([0.75, 0.25])


def test_multilabel_sample_takes_its_rarest_label_weight() -> None:
    y = torch.tensor([[1, 0], [1, 1], [1, 0], [1, 0]], dtype=torch.float32)
    w = sample_weights(y, 2, "inverse")
    assert w.tolist() == pytest.approx([0.25, 1.0, 0.25, 0.25])


def test_unknown_rule_and_unlabelled_rows() -> None:
    with pytest.raises(ValueError, match="unknown sampler rule"):
        class_weights(torch.tensor([1, 2]), "uniform")
    with pytest.raises(ValueError, match="no label"):
        sample_weights(torch.tensor([[0.0, 0.0], [1.0, 0.0]]), 2, "inverse")
