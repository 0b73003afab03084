"""Seed 000's V9 and WRN-B4-ECA learn the synthetic multispectral multi-label set well above chance."""

from pathlib import Path

import pytest

import archlab

SYNTH = [
    "data.name=synthetic_ms",
    "data.synthetic.channels=12",
    "data.synthetic.size=24",
    "data.synthetic.num_classes=6",
    "data.synthetic.train_samples=256",
    "data.synthetic.test_samples=128",
    "data.synthetic.noise=0.5",
    "optim.name=adamw",
    "optim.lr=0.003",
    "sched.name=onecycle",
    "train.epochs=4",
    "data.batch_size=32",
    "run.summary=false",
    "run.report=false",
    "run.progress=false",
    "run.threads=1",
]
MARGIN = 0.25  # macro F1 must beat the best constant predictor by this much


def all_positive_macro_f1(support: list[int], n: int) -> float:
    """Macro F1 of predicting every label for every image: 2p / (1 + p) per class (p = prevalence)."""
    return sum(2 * (s / n) / (1 + s / n) for s in support) / len(support)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["multispectral_v9", "wrn_b4_eca"])
def test_multispectral_models_learn_the_synthetic_set(model: str, tmp_path: Path) -> None:
    result = archlab.train(
        None, overrides=SYNTH + [f"model.name={model}", f"run.out_dir={tmp_path}"], echo=lambda _: None
    )
    test = result.history[-1]["test"]
    chance = all_positive_macro_f1(test["support"], 128)
    assert chance < 0.6
    assert test["macro_f1"] >= chance + MARGIN, (test["macro_f1"], chance)
    assert test["map_macro"] >= 0.9
    assert result.results["task"] == "multi_label"
