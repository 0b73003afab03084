"""InputSpec: round trips through dicts and checkpoints (new and old layouts), checks, and the one preprocess."""

from __future__ import annotations

import json

import pytest
import torch

from archlab.data.inputspec import InputSpec, normalize, rescale, standardize

S2 = ("B02", "B03", "B04", "B08")


def ms_spec() -> InputSpec:
    return InputSpec(
        input_size=(4, 16, 12),
        classes=("forest", "water", "urban"),
        bands=S2,
        mean=(0.1, 0.2, 0.3, 0.4),
        std=(0.5, 0.25, 0.125, 2.0),
        scale=10000.0,
        task="multi_label",
    )


def test_to_dict_from_dict_round_trip_through_json() -> None:
    spec = ms_spec()
    data = spec.to_dict()
    assert data == {
        "input_size": [4, 16, 12],
        "classes": ["forest", "water", "urban"],
        "bands": list(S2),
        "mean": [0.1, 0.2, 0.3, 0.4],
        "std": [0.5, 0.25, 0.125, 2.0],
        "scale": 10000.0,
        "normalize": True,
        "task": "multi_label",
    }
    back = InputSpec.from_dict(json.loads(json.dumps(data)))
    assert back == spec and hash(back) == hash(spec)
    assert InputSpec.from_dict({**data, "thresholds": [0.5] * 3, "model_name": "x"}) == spec  # extras ignored


def test_from_checkpoint_new_and_old_layouts_agree() -> None:
    spec = ms_spec()
    new = {"model": {}, "model_name": "m", "input": spec.to_dict(), "config": {"data": {"normalize": True}}}
    old = {"model": {}, "model_name": "m", "config": {"data": {"normalize": True}}}
    old.update(classes=["forest", "water", "urban"], input_size=[4, 16, 12], bands=list(S2),
               mean=[0.1, 0.2, 0.3, 0.4], std=[0.5, 0.25, 0.125, 2.0], scale=10000.0, task="multi_label")  # fmt: skip
    assert InputSpec.from_checkpoint(new) == spec
    assert InputSpec.from_checkpoint(old) == spec
    # An old checkpoint's normalize flag lived in its config.
    off = {**old, "config": {"data": {"normalize": False}}}
    assert InputSpec.from_checkpoint(off).normalize is False
    with pytest.raises(ValueError, match="the checkpoint lacks classes, input_size"):
        InputSpec.from_checkpoint({"model": {}})


def test_old_checkpoint_without_optional_keys_takes_the_defaults() -> None:
    spec = InputSpec.from_checkpoint({"classes": ["0", "1"], "input_size": [1, 8, 8]})
    assert (spec.bands, spec.mean, spec.std, spec.scale, spec.task) == ((), (), (), 255.0, "single_label")
    assert spec.band_names == ["band1"] and not spec.normalized


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bands": ("B02", "B03")}, "2 band names for 4 input channels; give one name per band"),
        ({"mean": (0.1, 0.2, 0.3)}, "3 means and 4 stds for 4 bands; give one of each per band"),
        ({"mean": (0.1,), "std": (1.0,)}, "1 means and 1 stds for 4 bands"),
        ({"std": (0.5, 0.25, 0.0, 2.0)}, "every std must be positive"),
        ({"scale": 0.0}, "scale must be positive, got 0.0"),
        ({"task": "regression"}, "task must be one of single_label, multi_label, got 'regression'"),
        ({"classes": ()}, "needs the class names in output order"),
        ({"input_size": (16, 12)}, r"input_size must be \(C, H, W\) with C >= 1, got \(16, 12\)"),
    ],
)
def test_inconsistent_fields_are_refused(change: dict, message: str) -> None:
    data = {**ms_spec().to_dict(), **change}
    with pytest.raises(ValueError, match=message):
        InputSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def test_preprocess_equals_a_hand_computed_value() -> None:
    spec = InputSpec(input_size=(2, 1, 2), classes=("a",), mean=(0.5, 0.25), std=(0.25, 0.5), scale=100.0)
    x = torch.tensor([[[50, 100]], [[0, 75]]], dtype=torch.int16)  # C×H×W in stored units
    # band 0: (0.5 - 0.5)/0.25 = 0, (1.0 - 0.5)/0.25 = 2; band 1: (0 - 0.25)/0.5 = -0.5, (0.75 - 0.25)/0.5 = 1
    expected = torch.tensor([[[0.0, 2.0]], [[-0.5, 1.0]]])
    out = spec.preprocess(x)
    assert out.dtype == torch.float32 and torch.equal(out, expected)
    assert torch.equal(spec.preprocess(x[None]), expected[None])  # N×C×H×W the same
    off = InputSpec(**{**spec.__dict__, "normalize": False})
    assert not off.normalized and torch.equal(off.preprocess(x), x.float() / 100)


def test_normalize_is_rescale_then_standardize_bit_for_bit() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 10000, (3, 4, 5, 6), generator=g).to(torch.int16)
    mean, std = torch.rand(4, generator=g), torch.rand(4, generator=g) + 0.1
    whole = normalize(x, mean, std, 10000.0)
    assert torch.equal(whole, standardize(rescale(x, 10000.0), mean, std))
    spec = InputSpec(
        input_size=(4, 5, 6),
        classes=("a",),
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
        scale=10000.0,
    )
    assert torch.equal(spec.preprocess(x), whole)
    y = torch.rand(2, 1, 3, 3, generator=g)
    before = y.clone()
    rescale(y, 2.0)
    assert torch.equal(y, before)  # the caller's tensor is left alone


def test_derived_properties() -> None:
    spec = ms_spec()
    assert (spec.channels, spec.num_classes, spec.normalized) == (4, 3, True)
    assert spec.band_list(limit=2) == "B02, B03, ..."
    assert spec.with_size((32, 24)).input_size == (4, 32, 24)
