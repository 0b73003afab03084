"""Model sources: every timm and torchvision classifier by its own name, precedence, prefixes, errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from torch import nn

from archlab.models import create_model, list_models, model_info
from archlab.models.pretrained import adapt_input_weight
from archlab.models.registry import resolve, shadow_note, sources_of


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(fn, *args, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return fn(*args, **kwargs)


def test_any_timm_name_builds_with_timms_count() -> None:
    ours = on_meta(create_model, "vit_large_patch16_224")
    theirs = on_meta(timm.create_model, "vit_large_patch16_224")
    assert n_params(ours) == n_params(theirs) == 304_326_632
    assert hasattr(ours, "get_attention_maps")  # every plain timm ViT gets it, not only the featured ones
    assert model_info("vit_large_patch16_224")["library"] == "timm"
    assert model_info("vit_base_patch16_384")["input_size"] == (3, 384, 384)  # timm's pretrained_cfg


def test_torchvision_name_builds_with_torchvisions_count() -> None:
    ours = create_model("googlenet", num_classes=10)
    theirs = torchvision.models.googlenet(num_classes=10, aux_logits=False, init_weights=True)
    # 6,624,904 at 1000 classes (torchvision's documentation) − 990 × (1024 + 1) for a 10-class fc.
    assert n_params(ours) == n_params(theirs) == 6_624_904 - 990 * 1025 == 5_610_154
    assert type(ours) is type(theirs) and ours.aux1 is None  # one output tensor, in training too
    assert ours.train()(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert model_info("googlenet") == {
        "input_size": (3, 224, 224),
        "num_classes": 1000,
        "source": "torchvision googlenet",
        "task": "single_label",
        "name": "googlenet",
        "library": "torchvision",
    }


def test_torchvision_input_size_is_the_weights_crop_size() -> None:
    assert model_info("torchvision:inception_v3")["input_size"] == (3, 299, 299)
    assert model_info("efficientnet_v2_s")["input_size"] == (3, 384, 384)
    assert model_info("swin_v2_t")["input_size"] == (3, 256, 256)
    # Weights at 224 and 518: a ViT built without weights takes 224 only, the smallest crop.
    assert model_info("vit_h_14")["input_size"] == (3, 224, 224)


def test_torchvision_model_at_four_bands() -> None:
    torch.manual_seed(0)
    model = create_model("torchvision:resnet18", num_classes=5, in_chans=4).eval()
    assert model.conv1.in_channels == 4 and model.conv1.weight.shape == (64, 4, 7, 7)
    # The band rule on the random RGB filters: band 3 repeats band 0 (both scaled by 3/4).
    torch.testing.assert_close(model.conv1.weight[:, 3], model.conv1.weight[:, 0])
    assert n_params(model) == 11_689_512 + 64 * 49 - 995 * 513 == 11_182_213
    with torch.no_grad():
        assert model(torch.randn(2, 4, 64, 64)).shape == (2, 5)


def test_vit_patch_embedding_takes_other_bands() -> None:
    model = on_meta(create_model, "vit_b_16", num_classes=3, in_chans=13)
    assert model.conv_proj.weight.shape == (768, 13, 16, 16)
    assert n_params(model) == 86_567_656 + 10 * 768 * 256 - 997 * 769


def test_same_name_in_two_libraries_prefix_picks() -> None:
    timm_r50 = on_meta(create_model, "timm:resnet50")
    tv_r50 = on_meta(create_model, "torchvision:resnet50")
    assert type(on_meta(create_model, "resnet50")) is type(timm_r50)  # precedence: timm before torchvision
    assert type(timm_r50).__module__ == "timm.models.resnet"
    assert type(tv_r50).__module__ == "torchvision.models.resnet"
    assert n_params(timm_r50) == n_params(tv_r50) == 25_557_032  # same architecture, same count
    # inception_v3 differs: torchvision's auxiliary classifier, when asked for, adds 3,326,696.
    assert n_params(on_meta(create_model, "inception_v3")) == 23_834_568
    assert n_params(on_meta(create_model, "torchvision:inception_v3")) == 23_834_568
    assert n_params(on_meta(create_model, "torchvision:inception_v3", aux_logits=True)) == 27_161_264
    assert n_params(on_meta(create_model, "archlab:mnist_net3")) == 7_902


def test_shadowed_names_say_which_won_and_how_to_pick() -> None:
    assert sources_of("resnet50") == ["timm", "torchvision"]
    note = shadow_note("resnet50")
    assert note is not None and "timm's" in note and "torchvision:resnet50 builds torchvision's" in note
    assert shadow_note("torchvision:resnet50") is None and shadow_note("googlenet") is None
    assert list_models("resnet50", source="all") == ["resnet50", "torchvision:resnet50"]
    assert list_models("resnet50", source="torchvision") == ["torchvision:resnet50"]
    assert model_info("torchvision:resnet50")["library"] == "torchvision"


def test_listing_counts_every_source() -> None:
    import torchvision.models as tvm

    own = list_models(source="archlab")
    everything = list_models(source="all")
    assert len(everything) == len(own) + len(timm.list_models()) + len(tvm.list_models(module=tvm))
    assert len(set(everything)) == len(everything)  # shadowed names are prefixed, never repeated
    assert {"googlenet", "vit_large_patch16_224", "torchvision:vgg16", "mnist_net3"} <= set(everything)
    assert list_models("resnet5*") == ["resnet50"]  # featured: own models and the standard families


def test_unknown_names_are_one_line_errors_with_close_names() -> None:
    with pytest.raises(ValueError, match=r"^unknown model 'googlenett'; did you mean 'googlenet'") as err:
        create_model("googlenett")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="^timm has no model 'googlenet'; torchvision has: googlenet$"):
        create_model("timm:googlenet")
    with pytest.raises(ValueError, match=r"^unknown torchvision model 'resnet5'; did you mean .*'resnet50'"):
        create_model("torchvision:resnet5")
    with pytest.raises(ValueError, match="unknown model source 'tv' in 'tv:resnet50'"):
        resolve("tv:resnet50")
    with pytest.raises(
        ValueError,
        match=r"takes no argument 'aux_logit' \(model.kwargs.aux_logit\); did you mean 'aux_logits'",
    ):
        create_model("googlenet", aux_logit=True)


def test_own_models_import_no_library() -> None:
    code = (
        "import sys, archlab; archlab.create_model('mnist_net1'); archlab.model_info('digits_cnn'); "
        "archlab.list_models(); archlab.list_models(source='archlab'); "
        "print('timm' in sys.modules, 'torchvision.models' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def fake_torch_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, state: dict) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir(exist_ok=True)
    torch.save(state, tmp_path / "checkpoints" / url.rsplit("/", 1)[-1])


def test_torchvision_pretrained_from_the_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    source = torchvision.models.googlenet(aux_logits=True, init_weights=True).state_dict()
    url = torchvision.models.GoogLeNet_Weights.DEFAULT.url
    fake_torch_hub(tmp_path, monkeypatch, url, source)
    model = create_model("googlenet", num_classes=7, in_chans=4, pretrained=True)
    torch.testing.assert_close(model.conv1.conv.weight, adapt_input_weight(source["conv1.conv.weight"], 4))
    torch.testing.assert_close(
        model.inception5b.branch1.conv.weight, source["inception5b.branch1.conv.weight"]
    )
    assert model.fc.out_features == 7  # the 1000-class fc is dropped, the aux classifiers skipped


def test_torchvision_pretrained_offline_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archlab.models import pretrained

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(pretrained, "_reachable", lambda url, timeout_s: "no network here")
    start = time.perf_counter()
    with pytest.raises(
        FileNotFoundError, match=r"not cached under .* and https://download.pytorch.org cannot"
    ):
        create_model("squeezenet1_1", pretrained=True)
    assert time.perf_counter() - start < 5.0


@pytest.mark.slow
def test_every_torchvision_model_builds_on_meta_with_torchvisions_count() -> None:
    import torchvision.models as tvm

    from archlab.models.listing import build_on_meta

    for name in tvm.list_models(module=tvm):
        ours = build_on_meta(f"torchvision:{name}")
        size = model_info(f"torchvision:{name}")["input_size"][1]
        (weights, *_) = [
            w for w in tvm.get_model_weights(name) if w.transforms.keywords.get("crop_size") == size
        ]
        published = weights.meta["num_params"]
        if name == "inception_v3":  # published with its auxiliary classifier, which archlab leaves out
            published -= 3_326_696
        assert n_params(ours) == published, name
