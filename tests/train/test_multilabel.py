"""Multi-label metrics and thresholds on a hand-computed case; curriculum planning."""

import pytest
import torch

from archlab.config import load_config
from archlab.train import curriculum
from archlab.train.metrics import multilabel_metrics, tune_thresholds

SCORES = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
TARGET = torch.tensor([[1, 0], [0, 1], [0, 1]])


def test_multilabel_metrics_hand_computed() -> None:
    m = multilabel_metrics(SCORES, TARGET, 0.5)
    # predictions [[1,0],[1,1],[0,0]]: class 0 TP1 FP1 FN0, class 1 TP1 FP0 FN1
    assert m["per_class_precision"] == pytest.approx([0.5, 1.0])
    assert m["per_class_recall"] == pytest.approx([1.0, 0.5])
    assert m["micro_f1"] == pytest.approx(2 / 3)
    assert m["macro_precision"] == pytest.approx(0.75)
    assert m["weighted_recall"] == pytest.approx((1 * 1.0 + 2 * 0.5) / 3)
    assert m["hamming_loss"] == pytest.approx(2 / 6)
    assert m["subset_acc"] == pytest.approx(1 / 3)
    assert m["support"] == [1, 2]
    assert m["map_macro"] == pytest.approx(1.0)  # each class's positives outrank its negatives


def test_per_class_thresholds_change_the_decision() -> None:
    m = multilabel_metrics(SCORES, TARGET, torch.tensor([0.65, 0.3]))
    assert m["subset_acc"] == pytest.approx(1.0) and m["macro_f1"] == pytest.approx(1.0)


def test_tuned_thresholds_maximise_f1_and_prefer_half() -> None:
    t = tune_thresholds(SCORES, TARGET)
    assert t.tolist() == pytest.approx([0.65, 0.4])
    assert tune_thresholds(SCORES, torch.zeros(3, 2)).tolist() == [0.5, 0.5]


def test_curriculum_plan_and_stage_subsets() -> None:
    cfg = load_config(
        None, ["curriculum=[{classes: [0, 7], epochs: 2}, {classes: [0, 1, 6, 7], epochs: 1}, {epochs: 3}]"]
    )
    classes = [str(i) for i in range(8)]
    stages = curriculum.plan(cfg.curriculum, classes, 15)
    assert [(s.first_epoch, s.last_epoch) for s in stages] == [(1, 2), (3, 3), (4, 6)]
    assert curriculum.stage_of(stages, 3).classes == [0, 1, 6, 7]
    y = torch.tensor([0, 1, 7, 3, 6, 2])
    assert curriculum.stage_index(y, stages[0]).tolist() == [0, 2]
    assert curriculum.stage_index(y, stages[2]) is None
    multi = torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 0, 0, 0, 0.0]])
    assert curriculum.stage_index(multi, stages[0]).tolist() == [0, 1]
    plain = curriculum.plan([], classes, 15)
    assert len(plain) == 1 and plain[0].last_epoch == 15


def test_curriculum_errors() -> None:
    cfg = load_config(None, ["curriculum=[{classes: [9], epochs: 1}]"])
    with pytest.raises(ValueError, match="out of range"):
        curriculum.plan(cfg.curriculum, ["a", "b"], 5)
    cfg = load_config(None, ["curriculum=[{classes: [1], epochs: 1}]"])
    stages = curriculum.plan(cfg.curriculum, ["a", "b"], 5)
    with pytest.raises(ValueError, match="no training samples"):
        curriculum.stage_index(torch.tensor([0, 0]), stages[0])
