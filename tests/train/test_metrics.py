"""Classification metrics against a hand-computed 3-class example."""

from __future__ import annotations

import pytest
import torch

from archlab.train.metrics import classification_metrics, scalar_items

# Six samples, two per class. Rows: logits for classes 0, 1, 2.
# true:  0 0 1 1 2 2
# top-1: 0 1 1 1 2 0   -> 4 of 6 right
# top-2: {0,1} {1,2} {1,0} {1,2} {2,1} {0,2} -> 5 of 6 contain the truth (sample 2 of class 0 does not)
LOGITS = torch.tensor(
    [
        [3.0, 2.0, 1.0],
        [1.0, 3.0, 2.0],
        [2.0, 3.0, 1.0],
        [1.0, 3.0, 2.0],
        [1.0, 2.0, 3.0],
        [3.0, 1.0, 2.0],
    ]
)
TARGET = torch.tensor([0, 0, 1, 1, 2, 2])


def test_hand_computed_three_class_example() -> None:
    m = classification_metrics(LOGITS, TARGET, num_classes=3, topk=2)
    assert m["acc"] == pytest.approx(4 / 6)
    assert m["top2"] == pytest.approx(5 / 6)
    # Confusion matrix, rows = true class, columns = predicted class.
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["support"] == [2, 2, 2]
    # Per class: precision = TP / predicted, recall = TP / true, F1 = 2PR / (P + R).
    assert m["per_class_precision"] == pytest.approx([1 / 2, 2 / 3, 1.0])
    assert m["per_class_recall"] == pytest.approx([1 / 2, 1.0, 1 / 2])
    assert m["per_class_f1"] == pytest.approx([1 / 2, 4 / 5, 2 / 3])
    assert m["macro_precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert m["macro_recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert m["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    # Single-label micro averages all equal the accuracy.
    for name in ("micro_precision", "micro_recall", "micro_f1"):
        assert m[name] == pytest.approx(4 / 6)


def test_topk_is_capped_at_the_number_of_classes() -> None:
    m = classification_metrics(LOGITS, TARGET, num_classes=3, topk=5)
    assert "top5" not in m and m["top3"] == pytest.approx(1.0)
    assert not any(k.startswith("top") for k in classification_metrics(LOGITS[:, :1] * 0, TARGET * 0, 1))


def test_a_class_absent_from_targets_and_predictions() -> None:
    """Class 3 never appears: support 0, an empty confusion row and column."""
    logits = torch.cat([LOGITS, torch.full((6, 1), -9.0)], 1)
    m = classification_metrics(logits, TARGET, num_classes=4, topk=1)
    assert m["support"] == [2, 2, 2, 0]
    assert m["confusion"][3] == [0, 0, 0, 0] and [row[3] for row in m["confusion"]] == [0, 0, 0, 0]
    assert m["acc"] == pytest.approx(4 / 6)


def test_perfect_predictions() -> None:
    target = torch.tensor([2, 0, 1, 1])
    m = classification_metrics(torch.nn.functional.one_hot(target, 3).float(), target, 3)
    assert m["acc"] == 1.0 and m["macro_f1"] == 1.0 and m["confusion"] == [[1, 0, 0], [0, 2, 0], [0, 0, 1]]


def test_scalar_items_keeps_numbers_only() -> None:
    m = classification_metrics(LOGITS, TARGET, num_classes=3, topk=2)
    scalars = scalar_items({**m, "loss": 0.5, "flag": True})
    assert set(scalars) == {
        "acc",
        "top2",
        "loss",
        "macro_precision",
        "micro_precision",
        "macro_recall",
        "micro_recall",
        "macro_f1",
        "micro_f1",
    }
