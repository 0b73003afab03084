"""Pretrained weights for any model: a local file or the hub cache, with input-band and head adaptation.

Band rule, from ``C_src`` input channels in the checkpoint to ``C_dst`` in the model, applied to
the first convolution (or patch embedding) along its input-channel axis:

* ``C_dst == C_src``: copied unchanged;
* ``C_dst < C_src`` (fold): target band ``j`` is the sum of the source filters ``i`` with
  ``i mod C_dst == j`` (3 -> 1 sums R, G and B; 13 -> 1 sums all thirteen);
* ``C_dst > C_src`` (repeat): the source filters are repeated cyclically up to ``C_dst`` channels
  (channel ``i`` takes source channel ``i mod C_src``) and scaled by ``C_src / C_dst``.

Both keep the activation size: an input whose bands all carry the same image gives exactly the
source layer's output after a fold, and after a repeat whenever ``C_dst`` is a multiple of ``C_src``.

A classifier whose shape differs from the checkpoint's is dropped and keeps its fresh
initialisation. Any other shape difference means another architecture and is an error.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

PretrainedSource = bool | str | os.PathLike | Mapping[str, torch.Tensor]


@dataclass
class PretrainedReport:
    """What ``load_pretrained`` did: where the weights came from and which keys it changed or skipped."""

    source: str
    loaded: int = 0
    adapted: dict[str, tuple[int, int]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    resampled: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def adapt_input_weight(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Map a first-layer weight ``[out, C_src, ...]`` to ``[out, in_chans, ...]`` by the module's band rule."""
    if weight.ndim < 2:
        raise ValueError(
            f"expected a weight with an input-channel axis (ndim >= 2), got shape {tuple(weight.shape)}"
        )
    if in_chans < 1:
        raise ValueError(f"in_chans must be >= 1, got {in_chans}")
    c_src = weight.shape[1]
    if in_chans == c_src:
        return weight.clone()
    w = weight.float()
    if in_chans < c_src:
        # Fold: target band j sums the source bands i with i % in_chans == j (3 -> 1 sums RGB).
        index = torch.arange(c_src, device=weight.device) % in_chans
        shape = (w.shape[0], in_chans, *w.shape[2:])
        out = torch.zeros(shape, dtype=w.dtype, device=w.device).index_add_(1, index, w)
    else:
        index = torch.arange(in_chans, device=weight.device) % c_src
        out = w.index_select(1, index) * (c_src / in_chans)
    return out.to(weight.dtype)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file or a torch checkpoint (a state_dict, or a dict with ``state_dict``/``model``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"pretrained weights file {str(p)!r} not found; pass an existing .safetensors/.pth/.pt path, "
            "or pretrained=True for the hub cache"
        )
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(p), device="cpu"))
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for foreign or unsafe pickles
        raise ValueError(
            f"could not read {str(p)!r} as a torch checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:120]}); "
            "save a state_dict with torch.save(model.state_dict(), path) or use .safetensors"
        ) from err
    return unwrap_state_dict(obj, str(p))


def unwrap_state_dict(obj: Any, where: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Return the tensor dict inside ``obj`` (keys ``state_dict``, ``model``, ``model_state_dict``), prefixes stripped."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = type(obj).__name__
        keys = list(obj)[:5] if isinstance(obj, Mapping) else []
        raise ValueError(
            f"{where}: expected a state_dict of tensors (or a dict holding one under 'state_dict' or 'model'), "
            f"found a {kind} with keys {keys}; save it with torch.save(model.state_dict(), path)"
        )
    state = {str(k): v for k, v in obj.items()}
    for prefix in ("module.", "_orig_mod."):  # DataParallel/DDP and torch.compile wrappers
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _as_names(value: Any) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _pretrained_cfg(model: nn.Module) -> dict[str, Any]:
    cfg = getattr(model, "pretrained_cfg", None)
    return dict(cfg) if isinstance(cfg, Mapping) else {}


def find_first_conv(model: nn.Module) -> list[str]:
    """Module names of the layers that see the input: timm's ``pretrained_cfg['first_conv']``, else the first conv."""
    names = [n for n in _as_names(_pretrained_cfg(model).get("first_conv")) if _has_module(model, n)]
    if names:
        return names
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return [name]
    return []


def model_num_classes(model: nn.Module) -> int | None:
    """The model's class count from its ``num_classes`` attribute, when it has one."""
    value = getattr(model, "num_classes", None)
    return int(value) if isinstance(value, int) else None


def find_classifier(model: nn.Module, num_classes: int | None = None) -> list[str]:
    """Module names of the classifier: timm's ``pretrained_cfg['classifier']``, else the last Linear/conv layer.

    Without timm metadata the last ``nn.Linear`` or conv whose output size is ``num_classes``
    (when known) is taken, which finds both ``fc`` heads and 1×1-conv heads.
    """
    names = _as_names(_pretrained_cfg(model).get("classifier"))
    if names:
        return names
    num_classes = model_num_classes(model) if num_classes is None else num_classes
    found: list[str] = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            out = module.out_features
        elif isinstance(module, nn.modules.conv._ConvNd):
            out = module.out_channels
        else:
            continue
        if num_classes is None or out == num_classes:
            found = [name]
    return found


def _has_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def _first_conv_in_chans(model: nn.Module, first: list[str]) -> int | None:
    for name in first:
        weight = getattr(model.get_submodule(name), "weight", None)
        if isinstance(weight, torch.Tensor) and weight.ndim >= 2:
            return int(weight.shape[1])
    return None


def _under(key: str, prefixes: list[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _resample_pos_embed(model: nn.Module, value: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """Resize a ViT's absolute position embedding to the model's patch grid (timm's bicubic resampling)."""
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if grid is None or value.ndim != 3 or value.shape[0] != 1 or value.shape[2] != target.shape[2]:
        return None
    from timm.layers import resample_abs_pos_embed

    prefix = 0 if getattr(model, "no_embed_class", False) else int(getattr(model, "num_prefix_tokens", 1))
    out = resample_abs_pos_embed(value.float(), new_size=list(grid), num_prefix_tokens=prefix)
    return out.to(value.dtype) if out.shape == target.shape else None


def load_pretrained(
    model: nn.Module,
    source: PretrainedSource,
    in_chans: int | None = None,
    num_classes: int | None = None,
    strict: bool = True,
    cache_dir: str | os.PathLike | None = None,
    timeout_s: float = 10.0,
) -> PretrainedReport:
    """Load weights into any ``model`` in place, adapting the input bands and dropping a head of another size.

    ``source`` is ``True`` (the timm hub weights named by ``model.pretrained_cfg``, from the local
    cache or downloaded when online), a path to a ``.safetensors`` / torch checkpoint, or a state_dict.
    ``in_chans`` / ``num_classes`` are checked against the model when given. With ``strict``, keys
    missing from or unknown to the checkpoint (outside the classifier) raise ``ValueError``.
    """
    first = find_first_conv(model)
    model_in = _first_conv_in_chans(model, first)
    if in_chans is not None and model_in is not None and in_chans != model_in:
        raise ValueError(
            f"in_chans={in_chans} but the model's first layer {first[0]!r} takes {model_in} channels; "
            "build the model with the same in_chans"
        )
    classifier = find_classifier(model, num_classes)
    have = model_num_classes(model)
    if num_classes is not None and have is not None and have != num_classes:
        raise ValueError(
            f"num_classes={num_classes} but the model has {have} classes; build it with num_classes={num_classes}"
        )

    if source is True:
        path = hub_weights_file(_pretrained_cfg(model), cache_dir=cache_dir, timeout_s=timeout_s)
        state, where = read_state_dict(path), str(path)
    elif isinstance(source, Mapping):
        state, where = unwrap_state_dict(source, "state_dict"), "state_dict"
    elif isinstance(source, str | os.PathLike) and str(source):
        state, where = read_state_dict(source), str(source)
    else:
        raise ValueError(
            f"pretrained must be True (hub), a weights file path or a state_dict, got {source!r}; "
            "pass pretrained=True or pretrained='path/to/weights.safetensors'"
        )

    target = model.state_dict()
    first_keys = {f"{name}.weight" for name in first}
    report = PretrainedReport(source=where)
    chosen: dict[str, torch.Tensor] = {}
    mismatched: list[str] = []
    for key, value in state.items():
        if key not in target:
            (report.dropped if _under(key, classifier) else report.unexpected).append(key)
            continue
        want = target[key]
        if value.shape == want.shape:
            chosen[key] = value
        elif (
            key in first_keys
            and value.ndim == want.ndim
            and value.shape[0] == want.shape[0]
            and (value.shape[2:] == want.shape[2:])
        ):
            chosen[key] = adapt_input_weight(value, int(want.shape[1]))
            report.adapted[key] = (int(value.shape[1]), int(want.shape[1]))
        elif _under(key, classifier):
            report.dropped.append(key)
        elif key.endswith("pos_embed") and (resized := _resample_pos_embed(model, value, want)) is not None:
            chosen[key] = resized
            report.resampled.append(key)
        else:
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(want.shape)}")
    if mismatched:
        raise ValueError(
            f"{where}: {len(mismatched)} weights do not fit the model ({'; '.join(mismatched[:3])}); "
            "the checkpoint is for another architecture — build the model it was saved from"
        )
    report.missing = [
        k
        for k in target
        if k not in chosen and not _under(k, classifier) and not k.endswith("num_batches_tracked")
    ]
    if strict and (report.missing or report.unexpected):
        raise ValueError(
            f"{where}: {len(report.missing)} model keys missing from the checkpoint {report.missing[:3]} and "
            f"{len(report.unexpected)} checkpoint keys unknown to the model {report.unexpected[:3]}; "
            "check the architecture, or pass strict=False to load only the matching keys"
        )
    model.load_state_dict(chosen, strict=False)
    report.loaded = len(chosen)
    return report


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (read now, not at import) or huggingface_hub was started offline."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return True
    return bool(constants.HF_HUB_OFFLINE)


def _reachable(url: str, timeout_s: float) -> str | None:
    """``None`` if ``url`` answers an HTTP HEAD within ``timeout_s`` (any status), else the reason it did not."""
    outcome: dict[str, str | None] = {}

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s).close()
            outcome["error"] = None
        except urllib.error.HTTPError:
            outcome["error"] = None  # the server answered
        except Exception as err:  # DNS, refused, timeout, TLS: the hub cannot be reached
            outcome["error"] = f"{type(err).__name__}: {err}"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s + 0.5)  # also bounds a slow DNS lookup, which the socket timeout does not
    return outcome.get("error", f"no answer within {timeout_s:g} s")


def hub_weights_file(
    pretrained_cfg: Mapping[str, Any],
    cache_dir: str | os.PathLike | None = None,
    timeout_s: float = 10.0,
) -> Path:
    """Path of the hub weights named by a timm ``pretrained_cfg``: from the cache, else downloaded if online.

    Offline (``HF_HUB_OFFLINE=1``) or with the hub unreachable, raises ``FileNotFoundError`` at once
    (within ``timeout_s``) instead of retrying.
    """
    name = pretrained_cfg.get("architecture") or "this model"
    tag = pretrained_cfg.get("tag")
    hub_id = pretrained_cfg.get("hf_hub_id")
    if not hub_id:
        label = f"{name}.{tag}" if tag else name
        raise FileNotFoundError(
            f"timm has no hub weights for {label!r}; pass pretrained='path/to/weights.safetensors' "
            "(a local file) or train from scratch"
        )
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    repo, _, revision = str(hub_id).partition("@")
    files = _as_names(pretrained_cfg.get("hf_hub_filename")) or ["model.safetensors", "pytorch_model.bin"]
    cache = str(cache_dir or os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)
    for filename in files:
        hit = try_to_load_from_cache(repo, filename, cache_dir=cache, revision=revision or None)
        if isinstance(hit, str):
            return Path(hit)
    if hub_offline():
        raise FileNotFoundError(
            f"offline (HF_HUB_OFFLINE is set) and no cached weights for {repo!r} under {cache}; "
            f"download them once online, or pass pretrained='path/to/weights.safetensors'"
        )
    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    problem = _reachable(endpoint, timeout_s)
    if problem is not None:
        raise FileNotFoundError(
            f"cannot reach {endpoint} to fetch {repo!r} ({problem}) and it is not cached under {cache}; "
            "go online, or pass pretrained='path/to/weights.safetensors'"
        )
    for filename in files:
        try:
            got = hf_hub_download(
                repo,
                filename,
                revision=revision or None,
                cache_dir=cache,
                etag_timeout=timeout_s,
                endpoint=endpoint,
            )
        except LocalEntryNotFoundError as err:  # a subclass of EntryNotFoundError: the network failed
            raise FileNotFoundError(
                f"could not download {repo}/{filename} from {endpoint} and it is not cached under {cache}; "
                "retry online, or pass pretrained='path/to/weights.safetensors'"
            ) from err
        except EntryNotFoundError:
            continue
        except Exception as err:  # httpx/OS errors mid-download
            raise FileNotFoundError(
                f"could not download {repo}/{filename} from {endpoint} ({type(err).__name__}); "
                "retry online, or pass pretrained='path/to/weights.safetensors'"
            ) from err
        return Path(str(got))
    raise FileNotFoundError(f"{repo!r} on {endpoint} has none of {files}; pass pretrained='path/to/weights'")
