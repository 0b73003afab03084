"""Activation memory: the bytes autograd keeps for backward, checked against independent counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archlab.inspect import summarize, torchinfo_estimate


def _graph_saved_bytes(output: torch.Tensor, exclude: list[torch.Tensor]) -> int:
    """Reference: walk the autograd graph and sum the storages behind every ``_saved_*`` attribute."""
    skip = {(str(t.device), t.untyped_storage().data_ptr()) for t in exclude}
    storages: dict[tuple[str, int], int] = {}
    todo, seen = [output.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for attr in dir(node):
            if not attr.startswith("_saved_"):
                continue
            value = getattr(node, attr)
            for t in value if isinstance(value, (tuple, list)) else [value]:
                if isinstance(t, torch.Tensor):
                    key = (str(t.device), t.untyped_storage().data_ptr())
                    if key not in skip and key[1] != 0:
                        storages[key] = t.untyped_storage().nbytes()
        todo += [fn for fn, _ in node.next_functions]
    return sum(storages.values())


def test_two_conv_relu_layers_match_the_hand_count():
    # conv1 saves the input (excluded) and its weight (a parameter); relu1 saves its output, which
    # conv2 saves again (same storage); relu2 saves its output. So: 2 maps of fp32 values.
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1), nn.ReLU())
    s = summarize(net, (3, 10, 12), batch_size=2)
    assert s.activation_bytes == (2 * 8 * 10 * 12 + 2 * 4 * 10 * 12) * 4 == 11_520
    # Each storage is charged to the module that saved it first: the ReLUs (conv2 re-saves relu1's).
    assert [r.activation_bytes for r in s.rows] == [0, 2 * 8 * 10 * 12 * 4, 0, 2 * 4 * 10 * 12 * 4]


def test_float64_doubles_the_bytes():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    s32 = summarize(net, (3, 8, 8), batch_size=3)
    s64 = summarize(net, (3, 8, 8), batch_size=3, dtype="float64")
    assert s64.activation_bytes == 2 * s32.activation_bytes
    assert s64.params_bytes == 2 * s32.params_bytes
    assert next(net.parameters()).dtype == torch.float32  # measured on a converted copy


@pytest.mark.slow
def test_resnet50_matches_the_saved_tensors_in_the_graph(resnet50_summary):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet50().train()
    x = torch.randn(1, 3, 224, 224)
    out = model(x)
    reference = _graph_saved_bytes(out, list(model.parameters()) + list(model.buffers()) + [x])
    assert reference == pytest.approx(85.5e6, rel=0.02)  # about 86 MB at batch 1, fp32
    assert resnet50_summary.activation_bytes == pytest.approx(reference, rel=0.05)
    # torchinfo's "forward/backward pass size" is about twice that.
    assert torchinfo_estimate(model, (3, 224, 224))["pass_mb"] == pytest.approx(177.83, abs=0.01)


@pytest.mark.slow
def test_cbam_raises_measured_memory_but_not_torchinfo_pass_size():
    timm = pytest.importorskip("timm")
    plain = timm.create_model("resnet18")
    cbam = timm.create_model("resnet18", block_args={"attn_layer": "cbam"})
    size = (3, 112, 112)
    ours = summarize(cbam, size).activation_bytes - summarize(plain, size).activation_bytes
    theirs = torchinfo_estimate(cbam, size)["pass_bytes"] - torchinfo_estimate(plain, size)["pass_bytes"]
    # CBAM multiplies each block's output by a channel gate, then by a spatial gate: autograd keeps
    # the input of both products, two block-output-sized maps per block (2 blocks per stage, fp32).
    block_outputs = 2 * 4 * (64 * 28 * 28 + 128 * 14 * 14 + 256 * 7 * 7 + 512 * 4 * 4)
    assert ours >= 2 * block_outputs
    # torchinfo only sees the outputs of CBAM's small parameterised layers.
    assert ours > 10 * theirs
