"""The typed config: defaults, YAML files with ``extends``, ``--set`` overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from archlab.config import (
    Config,
    apply_overrides,
    build_config,
    load_config,
    merge,
    parse_override,
    save_config,
)


def error_of(overrides: list[str], data: dict | None = None) -> str:
    with pytest.raises(ValueError) as info:
        build_config(data or {}, overrides)
    message = str(info.value)
    assert "\n" not in message, f"error is not one line: {message!r}"
    return message


# ---- defaults and files ---------------------------------------------------------------------------


def test_embedded_default_is_digits_yaml(configs_dir: Path) -> None:
    """``archlab train`` with no config runs exactly configs/digits.yaml."""
    assert load_config(None) == load_config(configs_dir / "digits.yaml")


def test_embedded_default_values() -> None:
    cfg = load_config(None)
    assert (cfg.model.name, cfg.data.name, cfg.data.test_split, cfg.data.split_seed) == (
        "digits_cnn",
        "digits",
        0.2,
        0,
    )
    assert (cfg.optim.name, cfg.optim.lr, cfg.sched.name, cfg.train.epochs) == ("sgd", 0.05, "onecycle", 15)
    # Mutable defaults are not shared between instances.
    other = Config()
    other.data.augment.scale.append(2.0)
    other.model.kwargs["width"] = 8
    assert Config().data.augment.scale == [1.0, 1.0] and Config().model.kwargs == {}


@pytest.mark.parametrize(
    ("name", "model"), [("net1", "mnist_net1"), ("net2", "mnist_net2"), ("net3", "mnist_net3")]
)
def test_mnist_configs_extend_base(configs_dir: Path, name: str, model: str) -> None:
    cfg = load_config(configs_dir / "mnist" / f"{name}.yaml")
    assert cfg.model.name == model
    assert (cfg.data.name, cfg.data.batch_size, cfg.data.eval_batch_size) == ("mnist", 128, 2000)
    assert cfg.data.augment.rotation == 7.0 and cfg.sched.pct_start == 0.2 and cfg.train.epochs == 15
    assert cfg.targets == ["fewer than 8,000 parameters", "at least 99.4 % test accuracy within 15 epochs"]


def test_extends_merges_key_by_key(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("data:\n  name: mnist\n  batch_size: 128\ntrain:\n  epochs: 15\n")
    (tmp_path / "top.yaml").write_text("extends: base.yaml\ndata:\n  batch_size: 32\n")
    cfg = load_config(tmp_path / "top.yaml", ["train.epochs=2"])
    assert (cfg.data.name, cfg.data.batch_size, cfg.train.epochs) == ("mnist", 32, 2)


def test_extends_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ValueError, match="nests too deeply"):
        load_config(tmp_path / "a.yaml")


def test_an_architecture_file_resolves_beside_the_config_that_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "net.yaml").write_text("name: net\nlayers: []\n")
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "base.yaml").write_text("model:\n  name: ../arch/net.yaml\n")
    (tmp_path / "exp" / "top.yaml").write_text("extends: base.yaml\ntrain:\n  epochs: 2\n")
    monkeypatch.chdir(tmp_path / "arch")  # the working directory has no ../arch/net.yaml
    cfg = load_config(tmp_path / "exp" / "top.yaml")
    assert cfg.model.name == str((tmp_path / "arch" / "net.yaml").resolve())
    # a path not found beside the file keeps resolving from the working directory, as before
    (tmp_path / "exp" / "cwd.yaml").write_text("model:\n  name: net.yaml\n")
    assert load_config(tmp_path / "exp" / "cwd.yaml").model.name == "net.yaml"


def test_merge_is_recursive_and_does_not_mutate() -> None:
    base = {"a": {"x": 1, "y": 2}, "b": 1}
    out = merge(base, {"a": {"y": 3}, "c": 4})
    assert out == {"a": {"x": 1, "y": 3}, "b": 1, "c": 4}
    assert base == {"a": {"x": 1, "y": 2}, "b": 1}


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    cfg = build_config(
        {}, ["train.epochs=3", "data.augment.scale=[0.9, 1.1]", "model.kwargs={width: 8}", "run.name=x"]
    )
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError, match="nope.yaml") as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: 3\n  lr: [1, 2\n")
    with pytest.raises(ValueError, match=r"not valid YAML at line \d+") as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_yaml_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_config(path)


def test_unknown_key_in_a_file_names_the_dotted_key(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("data:\n  augment:\n    rotaton: 5\n")
    with pytest.raises(ValueError, match=r"'data\.augment\.rotaton'.*did you mean 'data\.augment\.rotation'"):
        load_config(path)


# ---- overrides --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts", "value"),
    [
        ("train.epochs=3", ["train", "epochs"], 3),
        ("optim.lr=1.0e-3", ["optim", "lr"], 1e-3),
        ("data.augment.hflip=true", ["data", "augment", "hflip"], True),
        ("sched.milestones=[10, 15]", ["sched", "milestones"], [10, 15]),
        ("run.name=a=b", ["run", "name"], "a=b"),  # only the first '=' splits
        ("notes=", ["notes"], ""),
        ("run.name=null", ["run", "name"], None),
    ],
)
def test_parse_override(text: str, parts: list[str], value: object) -> None:
    assert parse_override(text) == (parts, value)


def test_overrides_apply_and_coerce() -> None:
    cfg = build_config(
        {"train": {"epochs": 15}},
        [
            "train.epochs=3",
            "optim.lr=1",
            "data.augment.scale=[1, 2]",
            "model.kwargs.width=8",
            "run.name=null",
        ],
    )
    assert cfg.train.epochs == 3
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)  # an integer is accepted as a number
    assert cfg.data.augment.scale == [1.0, 2.0] and all(isinstance(v, float) for v in cfg.data.augment.scale)
    assert cfg.model.kwargs == {"width": 8}
    assert cfg.run.name is None


def test_scientific_notation_is_a_number_in_overrides() -> None:
    cfg = build_config({}, ["optim.lr=1e-3", "sched.final_div_factor=1e4", "sched.div_factor=1.0e2"])
    assert (cfg.optim.lr, cfg.sched.final_div_factor, cfg.sched.div_factor) == (1e-3, 1e4, 100.0)


def test_scientific_notation_is_a_number_in_files(tmp_path: Path) -> None:
    (tmp_path / "lr.yaml").write_text("optim:\n  lr: 5e-4\n")
    assert load_config(tmp_path / "lr.yaml").optim.lr == 5e-4


def test_pretrained_takes_a_bool_or_a_path() -> None:
    assert build_config({}, ["model.pretrained=true"]).model.pretrained is True
    assert build_config({}, ["model.pretrained=weights/w.pt"]).model.pretrained == "weights/w.pt"


def test_unknown_key_suggests_the_closest() -> None:
    message = error_of(["train.epoch=3"])
    assert "'train.epoch'" in message and "did you mean 'train.epochs'?" in message


def test_unknown_section_suggests_the_closest() -> None:
    assert "did you mean 'train'?" in error_of(["trian.epochs=3"])


def test_wrong_type_names_key_and_expected_type() -> None:
    message = error_of(["train.epochs=ten"])
    assert message == "config key 'train.epochs' expects an integer, got 'ten' (str)"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epochs=3.5", "'train.epochs' expects an integer"),
        ("train.epochs=true", "'train.epochs' expects an integer"),  # a bool is not an integer
        ("optim.lr=fast", "'optim.lr' expects a number"),
        ("data.normalize=3", "'data.normalize' expects true or false"),
        ("sched.milestones=[1, a]", "'sched.milestones[1]' expects an integer"),
        ("data.augment=3", "'data.augment' expects"),
        ("model.kwargs=3", "'model.kwargs' expects a mapping"),
        ("run.name=[a]", "'run.name' expects a string or null"),
    ],
)
def test_wrong_types(override: str, expected: str) -> None:
    assert expected in error_of([override])


@pytest.mark.parametrize(
    ("override", "suggestion"),
    [("optim.name=adamx", "adam"), ("sched.name=onecylce", "onecycle"), ("train.amp=bf61", "bf16")],
)
def test_choices_suggest_the_closest(override: str, suggestion: str) -> None:
    message = error_of([override])
    key = override.split("=")[0]
    assert f"config key {key!r} has no choice" in message and f"did you mean {suggestion!r}?" in message


@pytest.mark.parametrize("text", ["train.epochs", "=3", "train..epochs=3", ".epochs=3"])
def test_malformed_override(text: str) -> None:
    assert "--set expects" in error_of([text])


def test_override_through_a_value_is_an_error() -> None:
    message = error_of(["train.epochs.x=1"], {"train": {"epochs": 15}})
    assert "'train.epochs' is a value, not a section" in message


def test_apply_overrides_creates_sections() -> None:
    assert apply_overrides({"train": None}, ["train.epochs=2", "data.augment.cutout=4"]) == {
        "train": {"epochs": 2},
        "data": {"augment": {"cutout": 4}},
    }
