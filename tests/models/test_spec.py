"""Architectures as data: YAML specs build the same networks as the Python definitions."""

from pathlib import Path

import pytest
import torch

from archlab.models import create_model, model_info
from archlab.models.spec import build_from_spec

ARCH = Path(__file__).resolve().parents[2] / "configs" / "architectures"


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_mnist_net3_yaml_equals_python_definition() -> None:
    torch.manual_seed(0)
    ref = create_model("mnist_net3").eval()
    spec = create_model(str(ARCH / "mnist_net3.yaml")).eval()
    assert n_params(spec) == n_params(ref) == 7_902
    # Copy the weights by their role and compare outputs: the same function, not just the same count.
    pairs = {
        "conv1": "convblock1.0",
        "layer2": "convblock1.2",
        "conv2": "convblock2.0",
        "layer6": "convblock2.2",
        "transition": "convblock3.0",
        "conv4": "convblock4.0",
        "layer12": "convblock4.2",
        "skip1": "skip1",
        "conv5": "convblock5.0",
        "layer19": "convblock5.2",
        "conv6": "convblock6.0",
        "layer23": "convblock6.2",
        "skip2": "skip2",
        "conv7": "convblock7.0",
        "layer30": "convblock7.2",
        "head": "convblock8.0",
    }
    ref_sd = ref.state_dict()
    new_sd = {}
    for key in spec.state_dict():
        layer, _, leaf = key.partition(".")
        new_sd[key] = ref_sd[f"{pairs[layer]}.{leaf}"]
    spec.load_state_dict(new_sd)
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(spec(x), ref(x))


def test_multispectral_v1_yaml_count() -> None:
    m = create_model(str(ARCH / "multispectral_v1.yaml"))
    assert n_params(m) == 1_975_770
    assert n_params(m) == n_params(create_model("multispectral_v1"))
    assert m(torch.zeros(1, 12, 120, 120)).shape == (1, 19)
    info = model_info(str(ARCH / "multispectral_v1.yaml"))
    assert info["input_size"] == (12, 120, 120) and info["task"] == "multi_label"


def test_spec_num_classes_and_in_chans_override() -> None:
    m = create_model(str(ARCH / "multispectral_v1.yaml"), num_classes=5, in_chans=4)
    assert m(torch.zeros(1, 4, 64, 64)).shape == (1, 5)
    # first conv: 4 -> 32, 3x3, no bias; head: 256 -> 5 with bias
    assert n_params(m) == 1_975_770 - 12 * 32 * 9 + 4 * 32 * 9 - 19 * 257 + 5 * 257


def test_repeat_and_concat() -> None:
    m = build_from_spec(
        {
            "input_size": [3, 8, 8],
            "layers": [
                {"name": "a", "op": "conv", "out": 4, "k": 1},
                {"name": "b", "op": "conv", "out": 4, "k": 1, "repeat": 2},
                {"op": "concat", "from": ["a", "b_2"]},
            ],
        }
    )
    assert [n.name for n in m.nodes] == ["a", "b_1", "b_2", "layer3"]
    assert m(torch.zeros(1, 3, 8, 8)).shape == (1, 8, 8, 8)
    assert n_params(m) == (3 * 4 + 4) + 2 * (4 * 4 + 4)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([{"op": "cnov", "out": 3}], "unknown op 'cnov'; did you mean 'conv'"),
        ([{"op": "conv", "k": 3}], "needs the argument 'out'"),
        ([{"op": "conv", "out": 3, "kernel": 3}], "takes no argument 'kernel'"),
        ([{"op": "relu", "from": "nope"}], "'from' names 'nope'"),
        ([{"op": "block", "type": "basik", "out": 4}], "did you mean 'basic'"),
        (
            [
                {"op": "conv", "out": 4, "k": 1},
                {"op": "conv", "out": 6, "k": 1, "name": "z"},
                {"op": "add", "from": ["layer0", "z"]},
            ],
            "equal channels",
        ),
    ],
)
def test_spec_errors_are_one_line(layers, message) -> None:
    with pytest.raises(ValueError, match=message) as info:
        build_from_spec({"input_size": [3, 8, 8], "layers": layers})
    assert "\n" not in str(info.value)
