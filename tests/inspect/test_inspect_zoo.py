"""``archlab models`` by source and pattern, and ``archlab summary --freeze``: the frozen counts."""

from __future__ import annotations

import json

import timm

from archlab.inspect.zoo import FIGURES_LIMIT, model_table


def test_models_by_source_with_the_shadow_note(run_cli) -> None:
    r = run_cli("models", "resnet50", "--source", "all", "--no-macs")
    assert r.rc == 0, r.err
    rows = [line.split() for line in r.out.splitlines()[2:-1]]
    assert [row[:3] for row in rows] == [
        ["resnet50", "25,557,032", "3x224x224"],
        ["torchvision:resnet50", "25,557,032", "3x224x224"],
    ]
    assert "[also torchvision:resnet50]" in r.out and "[resnet50 builds timm's]" in r.out
    assert r.out.splitlines()[-1].startswith("2 models; a name in several sources builds archlab's")


def test_a_torchvision_only_model_with_macs(run_cli) -> None:
    r = run_cli("models", "googlenet", "--source", "torchvision", "--format", "json")
    assert r.rc == 0, r.err
    (row,) = json.loads(r.out)
    assert (row["name"], row["library"], row["params"], row["also"]) == (
        "googlenet",
        "torchvision",
        6_624_904,
        [],
    )
    # torchvision's documentation: GoogLeNet, 1.5 GFLOPS (multiply-accumulates) at 224×224.
    assert round(row["macs"] / 1e9, 1) == 1.5


def test_a_long_listing_names_models_without_building_them() -> None:
    text = model_table("vit_*", source="timm", macs=False)
    lines = text.splitlines()
    expected = len(timm.list_models("vit_*"))
    assert expected > FIGURES_LIMIT
    assert lines[0].split() == ["name", "input", "classes", "from", "source"]
    assert lines[-1].startswith(
        f"{expected} models; parameters are counted for {FIGURES_LIMIT} models or fewer"
    )
    counted = model_table("vit_tiny_patch16_224", source="timm", macs=False, fmt="json")
    assert json.loads(counted)[0]["params"] == 5_717_416


def test_own_models_only(run_cli) -> None:
    r = run_cli("models", "mnist*", "--source", "archlab", "--no-macs")
    assert r.rc == 0, r.err
    assert [line.split()[:2] for line in r.out.splitlines()[2:-1]] == [
        ["mnist_net1", "13,808"],
        ["mnist_net2", "5,048"],
        ["mnist_net3", "7,902"],
    ]
    r = run_cli("models", "resnet*", "--source", "archlab")
    assert r.rc == 2 and "no registered model matches 'resnet*' in --source archlab" in r.err


def test_summary_shows_trainable_and_frozen(run_cli) -> None:
    # convblock1: 3×3 conv 1→10 (90) + BatchNorm (20); convblock2: 3×3 conv 10→14 (1,260) + BatchNorm (28).
    r = run_cli("summary", "mnist_net3", "--freeze", "convblock1", "--freeze", "convblock2.*", "--depth", "1")
    assert r.rc == 0, r.err
    assert "Trainable params      6,504" in r.out and "Non-trainable params  1,398" in r.out
    r = run_cli("summary", "resnet18", "--freeze", "backbone", "--format", "json", "--depth", "1")
    totals = json.loads(r.out)["totals"]
    assert (totals["trainable_params"], totals["frozen_params"]) == (513_000, 11_176_512)
    assert any("torchvision:resnet18 builds torchvision's" in n for n in json.loads(r.out)["notes"])
    r = run_cli("summary", "mnist_net3", "--freeze", "convblock9")
    assert (
        r.rc == 2
        and "closest layer names: 'convblock8', 'convblock7'" in r.err
        and len(r.err.splitlines()) == 1
    )


def test_summary_of_a_config_applies_model_freeze(run_cli, tmp_path) -> None:
    config = tmp_path / "frozen.yaml"
    config.write_text("model:\n  name: mnist_net3\n  freeze: [convblock1, convblock2]\n")
    r = run_cli("summary", str(config), "--format", "json", "--depth", "1")
    assert r.rc == 0, r.err
    assert json.loads(r.out)["totals"]["frozen_params"] == 1_398
