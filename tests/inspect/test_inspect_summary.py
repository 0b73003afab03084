"""``summarize``: rows, totals, renderings, and a model left exactly as it was found."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import archlab
from archlab.inspect import summarize


def test_mnist_model3_totals_and_rows():
    s = summarize(archlab.create_model("mnist_net3"), (1, 28, 28), depth=1)
    assert s.total_params == 7_902 and s.trainable_params == 7_902 and s.frozen_params == 0
    assert s.params_bytes == 7_902 * 4
    # BatchNorm buffers: running mean + var over 10+14+14+14+12+12 channels, and 6 step counters.
    assert s.buffer_elements == 2 * (10 + 14 + 14 + 14 + 12 + 12) + 6
    # Conv MACs by hand: Σ C_out·H·W·C_in·k² over the 10 convolutions.
    convs = [
        (10, 26, 1, 9), (14, 24, 10, 9), (10, 24, 14, 1), (14, 10, 10, 9), (14, 10, 10, 1),
        (14, 8, 14, 9), (12, 6, 14, 9), (12, 6, 14, 1), (12, 6, 12, 9), (10, 1, 12, 1),
    ]  # fmt: skip
    assert s.macs == sum(co * hw * hw * ci * k for co, hw, ci, k in convs) == 1_227_392
    assert s.flops == 2 * s.macs
    assert [r.name for r in s.rows][:4] == ["convblock1", "convblock2", "convblock3", "pool1"]
    names = [r.name for r in s.rows]
    assert names.index("skip1") == names.index("convblock4") + 1  # listed where it runs
    assert s.output_shape == (1, 10)
    assert s.uncounted_ops == {}


def test_depth_limits_rows():
    model = archlab.create_model("mnist_net1")
    assert max(r.depth for r in summarize(model, (1, 28, 28), depth=1).rows) == 1
    deep = summarize(model, (1, 28, 28), depth=2).rows
    assert {r.depth for r in deep} == {1, 2}
    assert any(r.name == "dropout" and r.calls == 0 for r in deep)  # constructed, never run


def test_model_state_is_left_untouched():
    torch.manual_seed(0)
    model = archlab.create_model("mnist_net3").eval()
    model.convblock1.train()  # a mixed state, to be kept as it is
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    summarize(model, (1, 28, 28), batch_size=4)
    assert torch.equal(torch.get_rng_state(), rng)
    assert [m.training for m in model.modules()] == modes
    for k, v in model.state_dict().items():
        assert torch.equal(v, stats[k]), k
    assert all(p.grad is None for p in model.parameters())


def test_json_has_units_torch_version_and_exact_integers():
    s = summarize(archlab.create_model("mnist_net2"), (1, 28, 28))
    d = json.loads(json.dumps(s.to_dict()))
    assert d["torch_version"] == torch.__version__
    assert "10^6" in d["units"]["bytes"] and "2^20" in d["units"]["bytes"]
    assert d["totals"]["params"] == 5_048
    assert d["totals"]["macs"] == s.macs and isinstance(d["totals"]["activation_bytes"], int)
    assert d["input"] == {
        "size": [1, 28, 28],
        "batch_size": 1,
        "dtype": "float32",
        "device": "meta",
        "bytes": 3136,
    }


def test_table_and_markdown_show_units_and_totals():
    s = summarize(archlab.create_model("mnist_net3"), (1, 28, 28), depth=1)
    table, md = s.to_table(), s.to_markdown()
    for text in (table, md):
        assert "7,902" in text and "MB = 10^6 bytes" in text and "MiB" in text
        assert "1,227,392 multiply-accumulates" in text
    assert md.splitlines()[2].startswith("| Layer | Type | Output shape |")


@pytest.mark.parametrize("bad", [(1, 28), (0, 28, 28), (1, -3, 28), ("a", 2, 2)])
def test_bad_input_sizes_are_value_errors(bad):
    with pytest.raises(ValueError, match="input"):
        summarize(archlab.create_model("mnist_net3"), bad)


def test_batch_norm_on_one_sample_is_measured_at_batch_two():
    head = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3))
    s = summarize(head, (4,))
    assert s.batch_size == 2 and any("measured at batch 2" in n for n in s.notes)
    assert s.total_params == 4 * 3 + 3 + 2 * 3
    # BatchNorm1d keeps its input (2×3 fp32) and the batch mean and inverse std (3 each); the
    # Linear keeps only the (excluded) input and its weight.
    assert s.activation_bytes == 2 * 3 * 4 + 2 * 3 * 4
