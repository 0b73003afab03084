"""Losses: focal forms against hand computation, pos_weight of seed 000, config errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from archlab.config import load_config
from archlab.train.losses import build_loss, focal_loss_multilabel, focal_loss_single, log_inverse_pos_weight


def test_focal_multilabel_matches_hand_computation() -> None:
    z = torch.tensor([[2.0, -1.0]])
    y = torch.tensor([[1.0, 0.0]])
    w = torch.tensor([3.0, 1.0])
    got = focal_loss_multilabel(z, y, gamma=3.0, alpha=0.5, pos_weight=w)
    p = torch.sigmoid(z)[0]
    # element 0: positive, BCE = -w0 log p0, p_t = p0; element 1: negative, BCE = -log(1 - p1), p_t = 1 - p1
    e0 = 0.5 * (1 - p[0]) ** 3 * (-3.0 * math.log(p[0]))
    e1 = 0.5 * p[1] ** 3 * (-math.log(1 - p[1]))
    assert got.item() == pytest.approx(float((e0 + e1) / 2), rel=1e-6)


def test_focal_with_gamma_zero_is_bce_and_ce() -> None:
    torch.manual_seed(0)
    z, y = torch.randn(5, 4), (torch.rand(5, 4) > 0.5).float()
    torch.testing.assert_close(
        focal_loss_multilabel(z, y, gamma=0.0), F.binary_cross_entropy_with_logits(z, y)
    )
    t = torch.randint(0, 4, (5,))
    torch.testing.assert_close(focal_loss_single(z, t, gamma=0.0), F.cross_entropy(z, t))


def test_focal_single_label_per_class_alpha() -> None:
    z = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.0]])
    t = torch.tensor([0, 1])
    alpha = torch.tensor([0.25, 0.5, 1.0])
    p = F.softmax(z, 1)
    expected = (
        -0.25 * (1 - p[0, 0]) ** 2 * torch.log(p[0, 0]) - 0.5 * (1 - p[1, 1]) ** 2 * torch.log(p[1, 1])
    ) / 2
    assert focal_loss_single(z, t, gamma=2.0, alpha=alpha).item() == pytest.approx(expected.item(), rel=1e-6)


def test_log_inverse_pos_weight_is_seed_000_rule() -> None:
    counts = [10, 30, 60]
    assert log_inverse_pos_weight(counts) == pytest.approx(
        [math.log(11), math.log(1 + 100 / 30), math.log(1 + 100 / 60)]
    )


def test_build_loss_pos_weight_boost_by_name_and_index() -> None:
    cfg = load_config(
        None,
        [
            "train.loss=focal",
            "train.pos_weight=log_inverse",
            "train.focal_gamma=3",
            "train.focal_alpha=0.5",
            "train.pos_weight_boost={2: 3, b: 2}",
        ],
    )
    _, info = build_loss(cfg, "multi_label", ["a", "b", "c"], [10, 30, 60], torch.device("cpu"))
    assert info["pos_weight"] == pytest.approx(
        [math.log(11), 2 * math.log(1 + 100 / 30), 3 * math.log(1 + 100 / 60)], rel=1e-6
    )
    assert info["loss"] == "focal" and info["gamma"] == 3.0


@pytest.mark.parametrize(
    ("task", "overrides", "message"),
    [
        ("multi_label", ["train.loss=ce"], "single-label data"),
        ("single_label", ["train.loss=bce"], "multi-label data"),
        ("single_label", ["train.pos_weight=log_inverse"], "train.class_weights"),
        ("multi_label", ["train.pos_weight=[1, 2]"], "has 2 entries but there are 3 classes"),
        (
            "multi_label",
            ["train.pos_weight=log_inverse", "train.pos_weight_boost={d: 2}"],
            "unknown class 'd'",
        ),
    ],
)
def test_build_loss_errors(task, overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        build_loss(load_config(None, overrides), task, ["a", "b", "c"], [1, 2, 3], torch.device("cpu"))


def test_ema_warmup_tracks_early_weights_then_uses_the_decay() -> None:
    from archlab.train.build import ema_with_warmup

    update = ema_with_warmup(0.999)
    avg, cur = [torch.zeros(3)], [torch.ones(3)]
    update(avg, cur, 0)  # decay min(0.999, 1/10) = 0.1: the average moves 90 % of the way
    torch.testing.assert_close(avg[0], torch.full((3,), 0.9))
    avg = [torch.zeros(3)]
    update(avg, cur, 10_000)  # late: the configured decay
    torch.testing.assert_close(avg[0], torch.full((3,), 0.001))
    counts = [torch.tensor(5)]
    update(counts, [torch.tensor(7)], 3)  # integer buffers (num_batches_tracked) are copied
    assert counts[0].item() == 7
