"""load_run: a run directory or checkpoint back to an eval-mode model with its metadata."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from archlab.data.inputspec import InputSpec
from archlab.models import create_model
from archlab.rundir import Restored, load_checkpoint, save_checkpoint, strip_wrapper_prefixes
from archlab.rundir import restore as load_run


def _save(
    run: Path, name: str = "best.pt", task: str = "single_label", classes: int = 10, **extra
) -> nn.Module:
    torch.manual_seed(0)
    model = create_model("digits_cnn", num_classes=classes, in_chans=2, width=8)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
    run.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model.state_dict(),
        "config": {"model": {"name": "digits_cnn", "kwargs": {"width": 8}}, "data": {"normalize": True}},
        "model_name": "digits_cnn",
        "classes": [f"c{i}" for i in range(classes)],
        "input_size": [2, 8, 8],
        "bands": ["R", "NIR"],
        "mean": [0.5, 0.25],
        "std": [0.25, 0.5],
        "scale": 100.0,
        "task": task,
        "params": sum(p.numel() for p in model.parameters()),
        "epoch": 4,
        "metrics": {"test": {"acc": 0.75}},
        **extra,
    }
    save_checkpoint(payload, run / name)
    return model.eval()


def test_weights_metadata_and_eval_mode(tmp_path: Path) -> None:
    original = _save(tmp_path / "run")
    r = load_run(tmp_path / "run")
    assert isinstance(r, Restored) and not r.model.training
    assert r.checkpoint == tmp_path / "run" / "best.pt"
    assert (r.model_name, r.input_size, r.bands, r.scale, r.task) == (
        "digits_cnn",
        (2, 8, 8),
        ["R", "NIR"],
        100.0,
        "single_label",
    )
    assert r.classes == [f"c{i}" for i in range(10)] and r.num_classes == 10
    assert (r.mean, r.std, r.normalize, r.thresholds, r.epoch) == ([0.5, 0.25], [0.25, 0.5], True, None, 4)
    assert r.config["model"]["kwargs"] == {"width": 8}
    # width 8 with 2 input bands: 63·8² + 9·8 + 12·8 + 2·8·10 + 10 + 9·8 (second band) = 4,442.
    assert r.params == sum(p.numel() for p in r.model.parameters()) == 4_442
    x = torch.randn(3, 2, 8, 8)
    with torch.no_grad():
        assert torch.equal(r.model(x), original(x))


def test_preprocess_applies_scale_mean_std() -> None:
    spec = InputSpec(
        classes=("a",), input_size=(2, 1, 1), bands=("R", "NIR"),
        mean=(0.5, 0.25), std=(0.25, 0.5), scale=100.0, normalize=True, task="single_label",
    )  # fmt: skip
    r = Restored(
        model=nn.Identity(), model_name="m", spec=spec, thresholds=None, config={}, checkpoint=Path("x.pt")
    )
    x = torch.tensor([[[[100]], [[50]]]], dtype=torch.uint8)
    # (100/100 - 0.5) / 0.25 = 2.0 ; (50/100 - 0.25) / 0.5 = 0.5
    assert r.preprocess(x).flatten().tolist() == [2.0, 0.5]
    r.spec = dataclasses.replace(spec, normalize=False)
    assert r.preprocess(x).flatten().tolist() == [1.0, 0.5]


def test_multi_label_thresholds_default_and_stored(tmp_path: Path) -> None:
    _save(tmp_path / "a", task="multi_label", classes=4)
    assert load_run(tmp_path / "a").thresholds == [0.5, 0.5, 0.5, 0.5]
    _save(tmp_path / "b", task="multi_label", classes=4, thresholds=[0.1, 0.2, 0.3, 0.9])
    assert load_run(tmp_path / "b").thresholds == [0.1, 0.2, 0.3, 0.9]
    _save(tmp_path / "c", task="multi_label", classes=4, thresholds=[0.1, 0.2])
    with pytest.raises(ValueError, match="has 2 thresholds for 4 classes"):
        load_run(tmp_path / "c")


def test_which_last_and_checkpoint_files(tmp_path: Path) -> None:
    _save(tmp_path / "run", name="last.pt")
    assert load_run(tmp_path / "run", which="last").checkpoint.name == "last.pt"
    assert load_run(tmp_path / "run" / "last.pt").checkpoint.name == "last.pt"
    with pytest.raises(FileNotFoundError, match="holds no best.pt; pass a run directory .* last.pt is there"):
        load_run(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="which must be 'best' or 'last'"):
        load_run(tmp_path / "run", which="first")


def test_wrapped_state_dict_prefixes_are_stripped(tmp_path: Path) -> None:
    original = _save(tmp_path / "run")
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    ckpt["model"] = {f"module._orig_mod.{k}": v for k, v in ckpt["model"].items()}
    save_checkpoint(ckpt, tmp_path / "run" / "best.pt")
    x = torch.randn(2, 2, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_run(tmp_path / "run").model(x), original(x))
    assert strip_wrapper_prefixes({"module.a": 1, "b": 2}) == {"module.a": 1, "b": 2}


def test_weights_of_another_shape_are_a_one_line_error(tmp_path: Path) -> None:
    _save(tmp_path / "run")
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    ckpt["classes"] = ckpt["classes"][:7]
    save_checkpoint(ckpt, tmp_path / "run" / "best.pt")
    with pytest.raises(ValueError, match="do not fit model 'digits_cnn' with 7 classes and 2 bands") as info:
        load_run(tmp_path / "run")
    assert "\n" not in str(info.value)


def test_a_run_written_by_the_engine(run_in_tmp: Path) -> None:
    from archlab.train import train

    result = train(
        None,
        overrides=[
            "model.kwargs.width=8",
            "run.summary=false",
            "run.progress=false",
            "run.threads=1",
            "train.epochs=1",
            "data.limit=64",
            "run.out_dir=runs",
        ],
        echo=lambda _: None,
    )
    r = load_run(result.run_dir)
    ckpt = load_checkpoint(result.run_dir / "best.pt")
    assert r.classes == [str(i) for i in range(10)] and r.input_size == (1, 8, 8) and r.bands == ["gray"]
    assert r.params == ckpt["params"] == 4_370
    assert r.mean == ckpt["input"]["mean"] and r.scale == 255.0
    reference = create_model("digits_cnn", width=8)
    reference.load_state_dict(ckpt["model"])
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(r.model(x), reference.eval()(x))
