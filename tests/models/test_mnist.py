"""Seed 001's MNIST models and the default digits CNN: parameter counts, seed tables, outputs."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from archlab.models import create_model, list_models, model_info

SEED_MODELS = {"mnist_net1": (1, 13_808), "mnist_net2": (2, 5_048), "mnist_net3": (3, 7_902)}

ROW = re.compile(r"^\s*(\w+)-(\d+)\s+\[([-\d, ]+)\]\s+([\d,]+)\s*$")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(cin: int, cout: int, k: int = 3) -> int:
    return cin * cout * k * k  # bias-free convolutions throughout the seed models


def unit(cin: int, cout: int) -> int:
    return conv(cin, cout) + 2 * cout  # 3x3 conv + BatchNorm (weight and bias per channel)


def summary_rows(text: str) -> list[tuple[str, str, int]]:
    """(layer type, output shape, parameters) rows of a torchsummary table, up to its 'Total params'."""
    rows = []
    for line in text[: text.index("Total params")].splitlines():
        m = ROW.match(line)
        if m:
            rows.append((m.group(1), m.group(3).replace(" ", ""), int(m.group(4).replace(",", ""))))
    return rows


def seed_table(seed_text: str, model: int) -> str:
    """The first torchsummary table of 'Console Log for Model N' in the seed document."""
    start = seed_text.index(f"## Console Log for Model {model}")
    body = seed_text[start:]
    return body[: body.index("Estimated Total Size")]


# ---- closed forms ---------------------------------------------------------------------------------


def test_closed_form_counts() -> None:
    """Each seed unit is conv (no bias) + BN (2·C); the 1x1 transitions and heads have no bias."""
    net1 = sum([unit(1, 16), unit(16, 32), conv(32, 10, 1), unit(10, 16), 3 * unit(16, 16), conv(16, 10, 1)])
    net2 = sum([unit(1, 8), unit(8, 16), conv(16, 8, 1), unit(8, 12), 2 * unit(12, 12), conv(12, 10, 1)])
    net3 = sum(
        [
            unit(1, 10),
            unit(10, 14),
            conv(14, 10, 1),
            unit(10, 14),
            unit(14, 14),
            unit(14, 12),
            unit(12, 12),
            conv(12, 10, 1),
            conv(10, 14, 1),
            conv(14, 12, 1),
        ]
    )  # the last two: the 1x1 skip projections
    assert (net1, net2, net3) == (13_808, 5_048, 7_902)
    for name, expected in zip(SEED_MODELS, (net1, net2, net3)):
        assert n_params(create_model(name)) == expected


@pytest.mark.parametrize(("width", "in_chans", "num_classes"), [(32, 1, 10), (8, 1, 10), (16, 3, 7)])
def test_digits_cnn_count(width: int, in_chans: int, num_classes: int) -> None:
    """Four 3x3 convs (no bias) with BN, GAP, linear head: 63w² + 9·in·w + 12w + 2w·classes + classes."""
    model = create_model("digits_cnn", num_classes=num_classes, in_chans=in_chans, width=width)
    expected = 63 * width**2 + 9 * in_chans * width + 12 * width + 2 * width * num_classes + num_classes
    assert n_params(model) == expected
    if (width, in_chans, num_classes) == (32, 1, 10):
        assert expected == 65_834


def test_registry_metadata() -> None:
    assert {"mnist_net1", "mnist_net2", "mnist_net3", "digits_cnn"} <= set(list_models())
    assert list_models("mnist_net*") == ["mnist_net1", "mnist_net2", "mnist_net3"]
    for name in SEED_MODELS:
        info = model_info(name)
        assert (
            info["input_size"] == (1, 28, 28) and info["num_classes"] == 10 and info["task"] == "single_label"
        )
    assert model_info("digits_cnn")["input_size"] == (1, 8, 8)


# ---- the seed's torchsummary tables --------------------------------------------------------------


@pytest.mark.parametrize("name", list(SEED_MODELS))
def test_per_layer_rows_match_the_seed_tables(name: str, seed_001: Path) -> None:
    """torchsummary of our model reproduces the seed's table row by row (type, output shape, parameters).

    Model 3's channel gate is a parameter-free module here and inline tensor ops in the seed, so its one
    extra row is set aside before comparing.
    """
    torchsummary = pytest.importorskip("torchsummary")
    number, total = SEED_MODELS[name]
    text = seed_001.read_text()
    expected = summary_rows(seed_table(text, number))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        torchsummary.summary(create_model(name).eval(), (1, 28, 28), device="cpu")
    ours = summary_rows(buf.getvalue())
    gates = [r for r in ours if r[0] == "GlobalAvgSigmoidGate"]
    assert len(gates) == (1 if name == "mnist_net3" else 0) and all(r[2] == 0 for r in gates)
    ours = [r for r in ours if r[0] != "GlobalAvgSigmoidGate"]
    assert len(expected) == {"mnist_net1": 28, "mnist_net2": 24, "mnist_net3": 30}[name]
    assert ours == expected
    assert (
        f"Total params: {total:,}" in seed_table(text, number)
        and f"Total params: {total:,}" in buf.getvalue()
    )
    # The seed's activation-memory estimate comes out the same as well.
    size = re.search(r"Forward/backward pass size \(MB\): ([\d.]+)", seed_table(text, number))
    assert size is not None and f"Forward/backward pass size (MB): {size.group(1)}" in buf.getvalue()


# ---- outputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SEED_MODELS))
def test_logits_and_log_softmax_outputs(name: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 1, 28, 28)
    model = create_model(name).eval()
    seed_like = create_model(name, log_softmax=True).eval()
    seed_like.load_state_dict(model.state_dict())
    with torch.no_grad():
        logits, logp = model(x), seed_like(x)
    assert logits.shape == (3, 10) and logp.shape == (3, 10)
    assert torch.allclose(logp.exp().sum(1), torch.ones(3), atol=1e-5)
    assert torch.allclose(logp, F.log_softmax(logits, 1), atol=1e-5)
    target = torch.tensor([1, 2, 3])
    # log_softmax is idempotent: cross-entropy is the same on logits and on the seed's log-probabilities.
    assert F.cross_entropy(logp, target).item() == pytest.approx(
        F.cross_entropy(logits, target).item(), abs=1e-5
    )


def test_other_class_and_channel_counts() -> None:
    model = create_model("mnist_net3", num_classes=7, in_chans=3).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 7)
    assert n_params(model) == 7_902 - conv(1, 10) + conv(3, 10) - conv(12, 10, 1) + conv(12, 7, 1)
