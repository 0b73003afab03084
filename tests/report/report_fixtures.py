"""Run directories built in a blink: the files ``archlab train`` writes, with metrics from known confusions.

Every evaluation record is derived from a confusion matrix chosen by the test, so the
per-class figures, accuracies and best epochs a report prints can be checked by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

K = 4  # classes of the fake digits runs
CLASSES = ["zero", "one", "two", "three"]


def record_from_confusion(confusion: np.ndarray, loss: float) -> dict[str, Any]:
    """An evaluation record as the engine writes it, computed from ``confusion`` (rows: true class)."""
    cm = np.asarray(confusion, dtype=float)
    tp = np.diag(cm)
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0
    )
    acc = tp.sum() / cm.sum()
    return {
        "loss": loss,
        "acc": acc,
        "top5": 1.0,
        "macro_precision": precision.mean(),
        "micro_precision": acc,
        "per_class_precision": precision.tolist(),
        "macro_recall": recall.mean(),
        "micro_recall": acc,
        "per_class_recall": recall.tolist(),
        "macro_f1": f1.mean(),
        "micro_f1": acc,
        "per_class_f1": f1.tolist(),
        "support": support.astype(int).tolist(),
        "confusion": cm.astype(int).tolist(),
    }


def confusion_for(
    correct_per_class: list[int], n: int = 25, confuse: tuple[int, int] | None = None
) -> np.ndarray:
    """``n`` samples per class, ``correct_per_class[i]`` right; the rest go to the next class,
    or all to ``confuse[1]`` for class ``confuse[0]``."""
    k = len(correct_per_class)
    cm = np.zeros((k, k), dtype=int)
    for i, c in enumerate(correct_per_class):
        cm[i, i] = c
        j = confuse[1] if confuse and confuse[0] == i else (i + 1) % k
        cm[i, j] += n - c
    return cm


# Five epochs; test accuracy 70, 85, 95, 97, 96 % (best at epoch 4); train accuracy 60, 80, 93, 99, 99.5 %.
TRAIN_ACC = [0.60, 0.80, 0.93, 0.99, 0.995]
TEST_CORRECT = [
    [18, 17, 17, 18],  # 70/100
    [22, 21, 20, 22],  # 85
    [24, 24, 23, 24],  # 95
    [25, 25, 22, 25],  # 97: class 'two' weakest, 3 errors all taken for 'three'... set by confuse
    [25, 24, 22, 25],  # 96
]
TEST_LOSS = [0.9, 0.5, 0.2, 0.12, 0.15]


def digits_history() -> list[dict[str, Any]]:
    history = []
    wall = 0.0
    for e, (tr, correct, loss) in enumerate(zip(TRAIN_ACC, TEST_CORRECT, TEST_LOSS), start=1):
        wall += 2.0
        history.append(
            {
                "epoch": e,
                "lr": 0.05 * (1 - (e - 1) / 5),
                "train": {"loss": 1.0 - tr, "acc": tr, "images_per_s": 1000.0 + 100 * e, "time_s": 1.5},
                "test": record_from_confusion(confusion_for(correct, confuse=(2, 1)), loss),
                "eval_time_s": 0.25,
                "wall_time_s": wall,
            }
        )
    return history


def multilabel_history() -> list[dict[str, Any]]:
    """Records of a multi-label run: no ``acc``, no confusion; mAP, F1s, Hamming loss, per-class AP."""
    out = []
    for e, m in enumerate([0.40, 0.55, 0.62], start=1):
        out.append(
            {
                "epoch": e,
                "lr": 1e-3,
                "train": {"loss": 0.5 / e, "images_per_s": 500.0, "time_s": 3.0},
                "test": {
                    "loss": 0.4 / e,
                    "map_macro": m,
                    "map_micro": m + 0.05,
                    "macro_f1": m - 0.1,
                    "micro_f1": m,
                    "hamming_loss": 0.2 / e,
                    "subset_acc": m / 2,
                    "per_class_precision": [0.5, 0.6, 0.7, m],
                    "per_class_recall": [0.4, 0.6, 0.8, m],
                    "per_class_f1": [0.44, 0.6, 0.75, m],
                    "per_class_ap": [0.5, 0.6, 0.7, m],
                    "support": [10, 20, 30, 40],
                },
                "eval_time_s": 0.5,
                "wall_time_s": 3.5 * e,
            }
        )
    return out


def write_run(
    folder: Path,
    *,
    width: int = 32,
    history: list[dict[str, Any]] | None = None,
    task: str = "single_label",
    targets: list[str] | None = None,
    notes: str = "",
    checkpoint: bool = True,
    results: bool = True,
    model_name: str = "digits_cnn",
    kwargs: dict[str, Any] | None = None,
    input_size: tuple[int, int, int] = (1, 8, 8),
    classes: list[str] | None = None,
    bands: list[str] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
) -> Path:
    """Write a run directory like the engine's; return it."""
    from archlab.config import Config
    from archlab.models import create_model
    from archlab.rundir import RunDir
    from archlab.train.recording import summarize_history

    folder.mkdir(parents=True)
    classes = classes or CLASSES
    kwargs = {"width": width} if kwargs is None and model_name == "digits_cnn" else dict(kwargs or {})
    history = digits_history() if history is None else history
    cfg = Config().to_dict()
    cfg["model"]["name"], cfg["model"]["kwargs"] = model_name, kwargs
    cfg["train"]["epochs"] = len(history) or 5
    cfg["targets"], cfg["notes"] = list(targets or []), notes
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    if history:
        RunDir(folder).write_metrics(history)
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=len(classes), in_chans=input_size[0], **kwargs)
    params = sum(p.numel() for p in model.parameters())
    (folder / "summary.txt").write_text(f"{type(model).__name__}: {params:,} parameters\n")
    if checkpoint:
        c = input_size[0]
        torch.save(
            {
                "model": model.state_dict(),
                "config": cfg,
                "model_name": model_name,
                "classes": classes,
                "input_size": list(input_size),
                "bands": bands or (["gray"] if c == 1 else [f"band{i + 1}" for i in range(c)]),
                "mean": mean or [0.3] * c,
                "std": std or [0.4] * c,
                "scale": 255.0,
                "task": task,
                "params": params,
                "epoch": 4 if task == "single_label" else len(history),
                "metrics": {},
                "archlab_version": "0.1.0",
            },
            folder / "best.pt",
        )
    if results and history and task == "single_label":
        res = summarize_history(history, params, "test/acc", 4)
        res.update(run_dir=str(folder), stopped_early=False, model=model_name, dataset="digits")
        res["environment"] = {"python": "3.11.7", "torch": torch.__version__, "cuda": None, "gpu": None}
        (folder / "results.json").write_text(json.dumps(res, indent=2))
    return folder
