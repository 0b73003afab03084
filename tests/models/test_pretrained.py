"""Pretrained loading: files, band adaptation, head dropping, the hub cache and fast offline errors."""

from __future__ import annotations

import time
from pathlib import Path

import huggingface_hub.constants
import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from archlab.models import create_model
from archlab.models.pretrained import (
    adapt_input_weight,
    find_classifier,
    find_first_conv,
    hub_weights_file,
    load_pretrained,
    read_state_dict,
)


def random_state(name: str, **kwargs) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return {
        k: v.contiguous() for k, v in timm.create_model(name, pretrained=False, **kwargs).state_dict().items()
    }


@pytest.fixture(scope="module")
def resnet18_rgb() -> dict[str, torch.Tensor]:
    return random_state("resnet18")


# --- the band rule -----------------------------------------------------------------------------


def test_same_band_count_is_copied() -> None:
    w = torch.randn(8, 3, 3, 3)
    assert torch.equal(adapt_input_weight(w, 3), w)


def test_one_band_from_rgb_is_the_sum_of_the_filters() -> None:
    w = torch.randn(8, 3, 7, 7)
    torch.testing.assert_close(adapt_input_weight(w, 1), w[:, 0:1] + w[:, 1:2] + w[:, 2:3])


def test_cyclic_repeat_scaled_by_band_ratio() -> None:
    w = torch.randn(4, 3, 3, 3)
    got = adapt_input_weight(w, 4)
    torch.testing.assert_close(got, torch.cat([w, w[:, :1]], dim=1) * 0.75)
    w4 = torch.randn(4, 4, 3, 3)  # a 4-band checkpoint (RGB + NIR) into a 13-band Sentinel-2 model
    got = adapt_input_weight(w4, 13)
    assert got.shape == (4, 13, 3, 3)
    for band in range(13):
        torch.testing.assert_close(got[:, band], w4[:, band % 4] * (4 / 13))


def test_fewer_bands_fold_by_summing() -> None:
    w13 = torch.randn(4, 13, 3, 3)  # 13 -> 3: band j sums source bands j, j+3, j+6, ...
    got = adapt_input_weight(w13, 3)
    torch.testing.assert_close(got[:, 0], w13[:, [0, 3, 6, 9, 12]].sum(1))
    torch.testing.assert_close(got[:, 1], w13[:, [1, 4, 7, 10]].sum(1))
    torch.testing.assert_close(got[:, 2], w13[:, [2, 5, 8, 11]].sum(1))
    torch.testing.assert_close(adapt_input_weight(w13, 1)[:, 0], w13.sum(1))
    # Every band carrying the same image: the folded layer gives the 13-band output exactly.
    img = torch.randn(2, 1, 9, 9)
    torch.testing.assert_close(
        F.conv2d(img.expand(-1, 3, -1, -1), got),
        F.conv2d(img.expand(-1, 13, -1, -1), w13),
        rtol=1e-4,
        atol=1e-4,
    )


def test_repeated_bands_give_the_rgb_response() -> None:
    """With every band equal to the same image, a 3→12 (or 3→1) adapted conv reproduces the RGB output."""
    torch.manual_seed(0)
    w = torch.randn(16, 3, 3, 3)
    gray = torch.randn(2, 1, 10, 10)
    rgb_out = F.conv2d(gray.expand(-1, 3, -1, -1), w)
    torch.testing.assert_close(F.conv2d(gray.expand(-1, 12, -1, -1), adapt_input_weight(w, 12)), rgb_out)
    torch.testing.assert_close(F.conv2d(gray, adapt_input_weight(w, 1)), rgb_out)


def test_timm_refuses_what_archlab_adapts() -> None:
    w4 = torch.randn(8, 4, 3, 3)
    with pytest.raises(NotImplementedError):
        timm.models.adapt_input_conv(13, w4)
    assert adapt_input_weight(w4, 13).shape == (8, 13, 3, 3)


def test_half_precision_is_kept() -> None:
    assert adapt_input_weight(torch.randn(2, 3, 3, 3).half(), 5).dtype == torch.float16


# --- files ------------------------------------------------------------------------------------


def test_safetensors_into_one_band_ten_classes(tmp_path: Path, resnet18_rgb: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "resnet18.safetensors"
    save_file(resnet18_rgb, str(path))
    torch.manual_seed(5)
    fresh_fc = create_model("resnet18", num_classes=10, in_chans=1).fc.weight.detach().clone()
    torch.manual_seed(5)
    model = create_model("resnet18", num_classes=10, in_chans=1, pretrained=str(path))
    torch.testing.assert_close(model.conv1.weight, resnet18_rgb["conv1.weight"].sum(dim=1, keepdim=True))
    torch.testing.assert_close(model.layer3[1].conv2.weight, resnet18_rgb["layer3.1.conv2.weight"])
    torch.testing.assert_close(model.bn1.running_var, resnet18_rgb["bn1.running_var"])
    assert torch.equal(model.fc.weight, fresh_fc)  # the 1000-class head was dropped, the fresh one kept


@pytest.mark.parametrize("wrap", ["raw", "state_dict", "model", "module_prefix"])
def test_torch_checkpoint_layouts(tmp_path: Path, resnet18_rgb: dict[str, torch.Tensor], wrap: str) -> None:
    state = {"module." + k: v for k, v in resnet18_rgb.items()} if wrap == "module_prefix" else resnet18_rgb
    obj = {wrap: state, "epoch": 3} if wrap in {"state_dict", "model"} else state
    torch.save(obj, tmp_path / "ckpt.pth")
    assert set(read_state_dict(tmp_path / "ckpt.pth")) == set(resnet18_rgb)


def test_other_band_count_checkpoint_is_adapted(tmp_path: Path) -> None:
    """A 4-band, 3-class checkpoint into a 13-band, 6-class model: timm's loader cannot do this."""
    source = random_state("mobilenetv3_small_100", in_chans=4, num_classes=3)
    model = create_model("mobilenetv3_small_100", num_classes=6, in_chans=13)
    report = load_pretrained(model, source, in_chans=13, num_classes=6)
    assert report.adapted == {"conv_stem.weight": (4, 13)}
    assert report.dropped == ["classifier.weight", "classifier.bias"]
    expected = source["conv_stem.weight"][:, torch.arange(13) % 4] * (4 / 13)
    torch.testing.assert_close(model.conv_stem.weight, expected)
    torch.testing.assert_close(model.blocks[2][0].conv_pw.weight, source["blocks.2.0.conv_pw.weight"])


def test_same_head_size_is_loaded(tmp_path: Path) -> None:
    source = random_state("mobilenetv3_small_100", num_classes=6)
    model = create_model("mobilenetv3_small_100", num_classes=6, in_chans=2)
    report = load_pretrained(model, source)
    assert report.dropped == [] and torch.equal(model.classifier.weight, source["classifier.weight"])


def test_vit_patch_embedding_and_position_grid(tmp_path: Path) -> None:
    source = random_state("vit_tiny_patch16_224")
    path = tmp_path / "vit.safetensors"
    save_file(source, str(path))
    model = create_model(
        "vit_tiny_patch16_224", num_classes=5, in_chans=12, img_size=64, pretrained=str(path)
    )
    torch.testing.assert_close(
        model.patch_embed.proj.weight, source["patch_embed.proj.weight"].repeat(1, 4, 1, 1) / 4
    )
    assert model.pos_embed.shape == (1, 1 + 16, 192)
    torch.testing.assert_close(model.pos_embed[:, 0], source["pos_embed"][:, 0])  # the class token is kept
    torch.testing.assert_close(model.blocks[5].attn.qkv.weight, source["blocks.5.attn.qkv.weight"])


def test_generic_model_without_timm_metadata() -> None:
    """Seed models have no pretrained_cfg: the first conv and the 1×1-conv head are found by inspection."""
    source = create_model("mnist_net1", num_classes=10, in_chans=3).state_dict()
    model = create_model("mnist_net1", num_classes=4, in_chans=1)
    assert find_first_conv(model) == ["convblock1.0"]
    assert find_classifier(model, num_classes=4) == ["convblock8.0"]
    report = load_pretrained(model, source, in_chans=1, num_classes=4)
    assert report.dropped == ["convblock8.0.weight"]
    torch.testing.assert_close(model.convblock1[0].weight, source["convblock1.0.weight"].sum(1, keepdim=True))


def test_wrong_architecture_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    model = create_model("vit_tiny_patch16_224", num_classes=2, img_size=32)
    with torch.device("meta"):
        small = timm.create_model("vit_small_patch16_224", num_classes=2, img_size=32).state_dict()
    with pytest.raises(ValueError, match="another architecture"):
        load_pretrained(model, {k: torch.zeros(v.shape) for k, v in small.items()})
    partial = {k: v for k, v in model.state_dict().items() if not k.startswith("blocks.11.")}
    with pytest.raises(ValueError, match="strict=False"):
        load_pretrained(model, partial)
    assert len(load_pretrained(model, partial, strict=False).missing) == 12
    with pytest.raises(FileNotFoundError, match="not found"):
        create_model("resnet18", pretrained=str(tmp_path / "missing.safetensors"))
    torch.save({"epoch": 1, "lr": 0.1}, tmp_path / "not_weights.pth")
    with pytest.raises(ValueError, match="expected a state_dict of tensors"):
        read_state_dict(tmp_path / "not_weights.pth")
    with pytest.raises(ValueError, match="in_chans=3 but"):
        load_pretrained(create_model("resnet18", in_chans=4), {}, in_chans=3)


# --- the hub ------------------------------------------------------------------------------------


def fake_hub_cache(cache: Path, repo: str, state: dict[str, torch.Tensor]) -> None:
    """Lay out ``cache`` the way huggingface_hub stores a downloaded ``model.safetensors``."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text("0" * 40)
    (root / "snapshots" / ("0" * 40)).mkdir(parents=True)
    save_file(state, str(root / "snapshots" / ("0" * 40) / "model.safetensors"))


def test_hub_cache_is_used_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    source = random_state("mobilenetv3_small_100")
    repo = timm.models.get_pretrained_cfg("mobilenetv3_small_100").hf_hub_id
    fake_hub_cache(tmp_path, repo, source)
    model = create_model("mobilenetv3_small_100", num_classes=10, in_chans=4, pretrained=True)
    torch.testing.assert_close(model.conv_stem.weight, adapt_input_weight(source["conv_stem.weight"], 4))


def test_offline_without_weights_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    model = create_model("resnet18")
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="offline .* no cached weights for 'timm/resnet18"):
        load_pretrained(model, True)
    assert time.perf_counter() - start < 1.0


def test_unreachable_hub_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: connection refused
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    cfg = timm.models.get_pretrained_cfg("resnet18").to_dict()
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="cannot reach http://127.0.0.1:9"):
        hub_weights_file(cfg, cache_dir=tmp_path, timeout_s=2.0)
    assert time.perf_counter() - start < 3.0  # huggingface_hub alone retries for ~23 s


def test_model_without_hub_weights_says_so() -> None:
    cfg = timm.models.get_pretrained_cfg("efficientnet_b7").to_dict()
    with pytest.raises(FileNotFoundError, match="no hub weights for 'efficientnet_b7.untrained'"):
        hub_weights_file(cfg)


def test_bad_source_type_is_a_value_error() -> None:
    model: nn.Module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))
    with pytest.raises(ValueError, match="pretrained must be True"):
        load_pretrained(model, 3.5)  # type: ignore[arg-type]
