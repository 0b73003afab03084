"""Memory at any scale: the summary on meta tensors equals a real pass; --fit measures a step without allocating."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from archlab.config import OptimConfig
from archlab.inspect.fit import HEADROOM, fit_batch, parse_size, step_memory
from archlab.inspect.summary import summarize
from archlab.models import create_model


def _figures(s) -> tuple:
    rows = tuple((r.name, r.macs, r.activation_bytes, r.receptive_field, r.output_shape) for r in s.rows)
    return (s.macs, s.activation_bytes, s.total_params, s.receptive_field.output, s.uncounted_ops, rows)


@pytest.mark.parametrize(
    "name, size, batch",
    [
        ("mnist_net3", (1, 28, 28), 1),  # dropout, BN at batch 1 (measured at 2), max-pool
        ("resnet18", (3, 64, 64), 2),
        ("vit_tiny_patch16_224", (3, 224, 224), 1),  # fused attention on the CPU
        ("efficientnet_b0", (3, 96, 96), 2),  # SE, SiLU, drop-path
    ],
)
def test_the_meta_pass_measures_what_a_real_cpu_pass_measures(name: str, size: tuple, batch: int) -> None:
    model = create_model(name)
    real = summarize(model, size, batch_size=batch, device="cpu", depth=4)
    meta = summarize(model, size, batch_size=batch, depth=4)
    assert (real.device, meta.device) == ("cpu", "meta")
    assert _figures(meta) == _figures(real)
    assert meta.batch_size == real.batch_size


def test_a_meta_summary_leaves_the_model_untouched() -> None:
    model = create_model("mnist_net3").eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summarize(model, (1, 28, 28), batch_size=4)
    assert not model.training and all(p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class _Ops(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(
    "kwargs, fused",
    [({}, True), ({"is_causal": True}, True), ({"dropout_p": 0.1}, False), ({"attn_mask": "bool"}, True)],
)
def test_attention_on_meta_picks_the_kernel_the_cpu_picks(kwargs: dict, fused: bool) -> None:
    """The rule the meta pass follows, checked against what real CPU dispatch runs."""
    from archlab.inspect.trace import _cpu_flash_attention

    q = torch.randn(2, 3, 17, 8, requires_grad=True)
    if kwargs.get("attn_mask") == "bool":
        kwargs = {"attn_mask": torch.rand(17, 17) > 0.3}
    ops = _Ops()
    with ops:
        F.scaled_dot_product_attention(q, q, q, **kwargs)
    assert any("flash_attention_for_cpu" in n for n in ops.names) == fused
    m = q.detach().to("meta").requires_grad_()
    meta_kwargs = {k: (v.to("meta") if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    assert (_cpu_flash_attention(m, m, m, **meta_kwargs) is not None) == fused


class _ReadsAValue(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * 2 if x.sum().item() > -1e9 else self.fc(x)  # data-dependent


def test_a_model_that_reads_values_is_measured_by_a_real_pass_and_says_so() -> None:
    s = summarize(_ReadsAValue(), (4,), batch_size=3)
    assert s.device == "cpu" and s.macs == 3 * 4 * 2
    assert s.notes[0].startswith("measured by a real forward on the CPU: the meta pass failed (")


def test_a_wrong_input_size_is_still_one_line_on_meta() -> None:
    with pytest.raises(
        ValueError, match=r"fails on an input of shape \[1, 3, 28, 28\]: .*check --input-size"
    ):
        summarize(create_model("mnist_net3"), (3, 28, 28))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("24GB", 24 * 10**9),
        ("16GiB", 16 * 2**30),
        ("512MiB", 512 * 2**20),
        ("1.5gb", 1_500_000_000),
        ("8G", 8e9),
    ],
)
def test_memory_sizes_parse(text: str, expected: int) -> None:
    assert parse_size(text) == int(expected)


@pytest.mark.parametrize("text", ["24 parsecs", "GB", "-3GB", "0GB", ""])
def test_bad_memory_sizes_are_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="write a number and a unit such as 24GB"):
        parse_size(text)


def test_a_step_of_one_linear_layer_peaks_at_the_hand_count() -> None:
    """At the peak (the layer's backward) memory holds the weight (100×10 float32: 4,000 B), its
    momentum buffer (4,000), its gradient (4,000), the output and its gradient (8×10×4 = 320
    each), and the loss and its gradient (4 each); the input was there before the step."""
    step = step_memory(nn.Linear(100, 10, bias=False), (100,), 8, OptimConfig(name="sgd", nesterov=False))
    assert step.peak == 3 * 4000 + 2 * 320 + 2 * 4
    assert step.parts["parameter"] == 4000 and step.parts["optstate"] == 4000


def _convnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )


def test_adam_keeps_two_moments_and_bf16_saves_half_the_activations() -> None:
    net = _convnet()
    sgd = step_memory(net, (3, 32, 32), 16, OptimConfig(name="sgd", momentum=0.0))
    adamw = step_memory(net, (3, 32, 32), 16, OptimConfig(name="adamw"))
    params = sum(p.numel() for p in net.parameters()) * 4
    assert sgd.parts["optstate"] == 0 and adamw.parts["optstate"] >= 2 * params
    bf16 = step_memory(net, (3, 32, 32), 16, precision="bf16")
    assert 0.45 < bf16.parts["activation"] / adamw.parts["activation"] < 0.75


def test_fit_finds_the_largest_batch_within_the_budget() -> None:
    net, budget = _convnet(), 10**7
    batch, at = fit_batch(net, (3, 32, 32), budget)
    usable = budget * (1 - HEADROOM)
    assert at is not None and at.batch == batch and at.peak <= usable
    assert step_memory(net, (3, 32, 32), batch + 1).peak > usable


def test_fit_says_when_nothing_fits() -> None:
    assert fit_batch(_convnet(), (3, 32, 32), 50_000) == (0, None)


def test_summary_fit_on_the_command_line(capsys: pytest.CaptureFixture) -> None:
    from archlab.cli import main

    assert main(["summary", "digits_cnn", "--fit", "64MB", "--optim", "sgd", "--format", "json"]) == 0
    fit = json.loads(capsys.readouterr().out)["fit"]
    assert fit["budget_bytes"] == 64 * 10**6 and fit["optim"] == "SGD with momentum"
    rows = {(r["precision"], r["memory_format"]): r for r in fit["rows"]}
    assert set(rows) == {(p, f) for p in ("fp32", "bf16") for f in ("contiguous", "channels_last")}
    assert all(r["batch"] > 0 and r["peak_bytes"] <= 0.9 * 64e6 for r in rows.values())
    assert rows["bf16", "contiguous"]["batch"] > rows["fp32", "contiguous"]["batch"]


def test_a_bad_fit_size_fails_before_anything_is_measured(capsys: pytest.CaptureFixture) -> None:
    from archlab.cli import main

    assert main(["summary", "digits_cnn", "--fit", "24parsecs"]) != 0
    out, err = capsys.readouterr()
    assert out == "" and "memory size '24parsecs' not understood" in err
