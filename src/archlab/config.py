"""The typed experiment configuration, in one place.

An experiment is a YAML file with the sections below; every key is optional and
falls back to the default given here. ``--set section.key=value`` overrides any
key (values are parsed as YAML, so ``3``, ``0.1``, ``true``, ``[1, 2]`` work).

Unknown keys and wrong types raise ``ValueError`` naming the dotted key and the
closest valid one, so a typo never trains silently with a default.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archlab._registry import closest


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2 floats: ``1e-3`` and ``5E4`` are numbers, not strings."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def yaml_load(text: str):
    """Parse YAML text with :class:`_Loader`."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class ModelConfig:
    """Which network to build: an own model, a timm or torchvision name (``timm:resnet50``), or a ``.yaml``."""

    name: str = "digits_cnn"
    num_classes: int | None = None  # None: taken from the dataset
    in_chans: int | None = None  # None: taken from the dataset
    pretrained: bool | str = False  # False, True (hub cache) or a local weights file
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to the model factory
    # Layers to freeze: "backbone" (all but the classifier head) or layer-name patterns such as
    # ["conv1", "layer1.*"] (fnmatch on parameter and module names); None: train everything.
    freeze: str | list[str] | None = None


@dataclass
class AugmentConfig:
    """Batch augmentation, applied on the device to whole batches (train split only)."""

    rotation: float = 0.0  # max degrees, uniform in [-rotation, rotation]
    translate: float = 0.0  # max shift as a fraction of height/width
    scale: list[float] = field(default_factory=lambda: [1.0, 1.0])  # [min, max] zoom
    crop_padding: int = 0  # random crop after zero padding by this many pixels
    hflip: bool = False
    vflip: bool = False
    cutout: int = 0  # side of a square erased at a random place (0: off)
    mixup: float = 0.0  # Beta(alpha, alpha) for mixup (0: off)
    cutmix: float = 0.0  # Beta(alpha, alpha) for cutmix (0: off)


@dataclass
class SyntheticConfig:
    """A generated, learnable dataset: each class is a smooth random template plus noise."""

    num_classes: int = 10
    channels: int = 3
    size: int = 32
    train_samples: int = 2000
    test_samples: int = 500
    noise: float = 0.35  # std of the per-pixel noise, relative to the template's range
    max_labels: int = 3  # synthetic_ms (multi-label): at most this many classes per image


@dataclass
class DataConfig:
    """Where the images come from and how they are batched."""

    name: str = "digits"
    root: str = "data"
    pack: str | None = (
        None  # bigearthnet(_v2) / eurosat_ms: read patches from this LMDB pack (archlab data pack)
    )
    download: bool = True  # torchvision datasets: download when missing and online
    test_split: float = 0.2  # datasets without a test split (digits): held-out fraction
    val_split: float = 0.0  # fraction of train carved out for validation (0: none)
    split_seed: int = 0  # seed of those splits, fixed so runs compare on the same test set
    batch_size: int = 64
    eval_batch_size: int = 1000
    normalize: bool = True  # per-channel mean/std of the training split
    drop_last: bool = False
    image_size: list[int] | None = None  # imagefolder / csv: resize every image to [H, W]
    resize: list[int] | None = None  # resize every batch to [H, W] on the device (e.g. compound scaling)
    train_csv: str = "train.csv"  # csv / bigearthnet: split files under root
    val_csv: str = "val.csv"
    test_csv: str = "test.csv"
    bands: list[str] | None = None  # multispectral: select bands by name, in this order (None: all)
    class_order: str = "alphabetical"  # bigearthnet: alphabetical (seed 000) | canonical (nomenclature paper)
    mean: list[float] | None = None  # per-band normalisation in stored units (None: dataset's / computed)
    std: list[float] | None = None
    on_error: str = (
        "raise"  # a bad sample (missing band, corrupt file, unknown label): raise | skip (and count)
    )
    in_memory: bool = True  # hold the decoded dataset in memory; false streams it through a DataLoader
    num_workers: int = 0  # DataLoader workers when streaming
    limit: int = 0  # use at most this many samples per split (0: all), for quick trials
    sampler: str = "none"  # weighted sampling of train: none | inverse | sqrt_inverse | effective
    sampler_beta: float = 0.999  # effective-number sampler (Cui et al. 2019): weight (1 - b) / (1 - b^n)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class OptimConfig:
    name: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class SchedConfig:
    name: str = "onecycle"  # none | onecycle | cosine | step | multistep | plateau
    warmup_epochs: float = 0.0  # cosine: linear warm-up length
    pct_start: float = 0.25  # onecycle: fraction of steps spent rising
    div_factor: float = 25.0  # onecycle: initial lr = lr / div_factor
    final_div_factor: float = 1e4  # onecycle: final lr = initial / final_div_factor
    min_lr: float = 0.0  # cosine / plateau floor
    step_size: int = 10  # step: epochs between decays
    gamma: float = 0.1  # step / multistep / plateau decay factor
    milestones: list[int] = field(default_factory=list)  # multistep epochs
    patience: int = 2  # plateau: epochs without improvement before decay


@dataclass
class TrainConfig:
    epochs: int = 15
    label_smoothing: float = 0.0
    class_weights: list[float] | None = None
    grad_clip: float = 0.0  # max global grad norm (0: off)
    accumulate: int = 1  # gradient accumulation steps
    amp: str = "none"  # none | bf16 | fp16 | auto (measured on the device: archlab.train.precision)
    ema: float = 0.0  # EMA decay of the weights (0: off), evaluated in place of the raw weights
    channels_last: bool = False
    compile: bool = False  # torch.compile the whole step: forward, backward, optimiser (train.compiled)
    sync_bn: bool = False  # distributed runs: convert BatchNorm to SyncBatchNorm
    early_stopping: int = 0  # patience in epochs on `monitor` (0: off)
    monitor: str = (
        "auto"  # metric that selects the best checkpoint: auto = val/acc if a val split else test/acc
    )
    topk: int = 5
    loss: str = "auto"  # auto (ce single-label, bce multi-label) | ce | bce | focal
    focal_gamma: float = 2.0
    focal_alpha: float | list[float] | None = None  # scalar (multi-label: positives' weight) or per class
    pos_weight: str | list[float] | None = None  # multi-label BCE/focal: per-class list or "log_inverse"
    pos_weight_boost: dict[str, float] = field(default_factory=dict)  # class index or name -> factor
    threshold: float = 0.5  # multi-label decision threshold on sigmoid scores
    tune_thresholds: bool = False  # multi-label: per-class thresholds maximising F1 on the val split
    eval_test: bool = True  # evaluate the test split every epoch (a search sets false: it never sees test)


@dataclass
class RunConfig:
    name: str | None = None  # run directory name (default: model-dataset-time)
    out_dir: str = "runs"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    deterministic: bool = False
    threads: int = 0  # torch CPU threads (0: torch's default)
    progress: bool = True  # live progress bar
    tensorboard: bool = False
    summary: bool = True  # print the model summary table at the start
    report: bool = True  # write report.md and report.html at the end


@dataclass
class StageConfig:
    """One curriculum stage: train on the samples of ``classes`` for ``epochs`` epochs."""

    classes: list[int | str] = field(default_factory=list)  # indices or names; empty: all classes
    epochs: int = 1
    name: str = ""


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sched: SchedConfig = field(default_factory=SchedConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    run: RunConfig = field(default_factory=RunConfig)
    curriculum: list[StageConfig] = field(default_factory=list)  # stages; their epochs replace train.epochs
    targets: list[str] = field(default_factory=list)  # what this experiment aims at (reports)
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES: dict[str, tuple[str, ...]] = {
    "data.on_error": ("raise", "skip"),
    "data.class_order": ("alphabetical", "canonical"),
    "optim.name": ("sgd", "adam", "adamw"),
    "sched.name": ("none", "onecycle", "cosine", "step", "multistep", "plateau"),
    "train.amp": ("none", "bf16", "fp16", "auto"),
    "train.loss": ("auto", "ce", "bce", "focal"),
    "data.sampler": ("none", "inverse", "sqrt_inverse", "effective"),
}


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints accepted as floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ValueError:
                continue
    elif tp is Any:
        return value
    elif tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # YAML read `2024` as a number; the key wants text
    elif origin is list:
        if isinstance(value, (list, tuple)):
            (item_tp,) = typing.get_args(tp) or (Any,)
            return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return _build(tp, value, key + ".")
    raise ValueError(f"config key {key!r} expects {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            near = closest(str(key), sorted(fields), n=1)
            hint = (
                f"did you mean {prefix + near[0]!r}?" if near else f"valid keys: {', '.join(sorted(fields))}"
            )
            raise ValueError(f"unknown config key {prefix + str(key)!r}; {hint}")
        kwargs[key] = _coerce(value, hints[key], prefix + key)
        allowed = CHOICES.get(prefix + key)
        if allowed and kwargs[key] not in allowed:
            near = closest(str(kwargs[key]), allowed, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"choose one of {', '.join(allowed)}"
            raise ValueError(f"config key {prefix + key!r} has no choice {kwargs[key]!r}; {hint}")
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.epochs=3"`` -> ``(["train", "epochs"], 3)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ValueError(f"--set expects key=value (e.g. train.epochs=3), got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ValueError(f"--set expects a dotted key such as train.epochs, got {key!r}")
    try:
        value = yaml_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each ``dotted.key=value`` of ``overrides`` in the nested dict ``data``."""
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ValueError(f"--set {text!r}: {'.'.join(parts[: i + 1])!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"config file {str(path)!r} not found; pass a YAML file such as configs/mnist/net3.yaml"
        )
    try:
        data = yaml_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(
            f"config file {str(path)!r} is not valid YAML{where}: {getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"config file {str(path)!r} must hold a mapping of sections, got {type(data).__name__}"
        )
    return data


def build_config(data: dict[str, Any] | None = None, overrides: list[str] | None = None) -> Config:
    """Validate a nested dict (plus ``--set`` overrides) into a :class:`Config`."""
    data = apply_overrides(dict(data or {}), list(overrides or []))
    data.pop("extends", None)
    return _build(Config, data)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML experiment (``None``: the embedded default) and apply overrides.

    A file may name a base file with ``extends: other.yaml`` (relative to itself);
    its sections are merged key by key under this file's.
    """
    data = _read_with_bases(Path(path)) if path is not None else {}
    return build_config(data, overrides)


def _read_with_bases(path: Path, depth: int = 0) -> dict[str, Any]:
    data = read_yaml(path)
    if isinstance(data.get("model"), dict) and isinstance(data["model"].get("name"), str):
        data["model"] = {**data["model"], "name": architecture_beside(data["model"]["name"], path.parent)}
    base = data.pop("extends", None)
    if base is None:
        return data
    if depth > 8:
        raise ValueError(f"config file {str(path)!r}: 'extends' nests too deeply (a loop?)")
    return merge(_read_with_bases(path.parent / str(base), depth + 1), data)


def architecture_beside(name: str, folder: Path) -> str:
    """An architecture file named relative to a config or search file resolves beside that file;
    anything else is returned as given (a relative path still resolves from the working directory)."""
    if name.endswith((".yaml", ".yml")) and not Path(name).is_absolute() and (folder / name).is_file():
        return str((folder / name).resolve())
    return name


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: keys of ``top`` win, nested mappings merge."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
