"""Saliency maps: Grad-CAM family (through pytorch-grad-cam), ViT attention maps and attention rollout.

* Grad-CAM (Selvaraju et al., 2017) and its variants weight a layer's activation maps by
  the class score's gradients (or, for Score-CAM and Eigen-CAM, without gradients); the
  ``grad-cam`` package (``pytorch_grad_cam``) computes them. The layer defaults to the last
  ``Conv2d`` (in execution order) whose output is at least 2×2 with more than one channel
  (a one-channel conv is a spatial-attention gate, not features); for a timm ViT, the last
  block's ``norm1`` with its tokens reshaped to the patch grid.
* Attention map: the [CLS] token's attention to every patch in the last block, averaged over heads.
* Attention rollout (Abnar & Zuidema, 2020): per block ``Â = ½·mean_heads(A) + ½·I`` (the
  residual path), rows renormalised, multiplied through the blocks; the [CLS] row is the map.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

CAM_METHODS = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "hirescam": "HiResCAM",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM",
    "eigengradcam": "EigenGradCAM",
    "scorecam": "ScoreCAM",
    "ablationcam": "AblationCAM",
}
ATTENTION_METHODS = ("attention", "rollout")
METHODS = tuple(CAM_METHODS) + ATTENTION_METHODS


def is_vit(model: nn.Module) -> bool:
    """A timm-style ViT: transformer ``blocks`` after a ``patch_embed`` with a ``grid_size``."""
    blocks = getattr(model, "blocks", None)
    return (
        blocks is not None
        and len(blocks) > 0
        and hasattr(blocks[0], "attn")
        and hasattr(getattr(model, "patch_embed", None), "grid_size")
    )


def prefix_tokens(model: nn.Module) -> int:
    """Tokens before the patches ([CLS], register tokens) in a timm ViT."""
    n = getattr(model, "num_prefix_tokens", None)
    if n is None:
        n = 1 if getattr(model, "cls_token", None) is not None else 0
    return int(n)


def conv_output_sizes(
    model: nn.Module, input_size: tuple[int, ...]
) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """``(name, module, output shape)`` of every ``Conv2d`` in execution order, from one zero-input forward."""
    seen: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):

            def hook(m: nn.Module, args: Any, out: Any, name: str = name) -> None:
                if isinstance(out, torch.Tensor):
                    seen.append((name, m, tuple(out.shape)))

            handles.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            model(torch.zeros(1, *input_size, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return seen


def _vit_reshape(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    gh, gw = (int(v) for v in model.patch_embed.grid_size)
    skip = prefix_tokens(model)

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        grid = tokens[:, skip:, :].reshape(tokens.shape[0], gh, gw, tokens.shape[-1])
        return grid.permute(0, 3, 1, 2)

    return reshape


def pick_target_layer(
    model: nn.Module, input_size: tuple[int, ...], layer: str | None = None
) -> tuple[str, nn.Module, Callable | None]:
    """``(name, module, reshape_transform)`` of the CAM layer: ``layer`` by name, else chosen as the module docstring says."""
    modules = dict(model.named_modules())
    if layer:
        if layer not in modules:
            from archlab._registry import closest

            near = closest(layer, [n for n in modules if n], n=3)
            hint = f"did you mean {', '.join(near)}?" if near else "list them with archlab summary"
            raise ValueError(f"model has no layer {layer!r}; {hint}")
        return (
            layer,
            modules[layer],
            _vit_reshape(model) if is_vit(model) and layer.startswith("blocks") else None,
        )
    if is_vit(model):
        name = f"blocks.{len(model.blocks) - 1}.norm1"
        return name, modules[name], _vit_reshape(model)
    convs = [
        c
        for c in conv_output_sizes(model, input_size)
        if len(c[2]) == 4 and min(c[2][-2:]) >= 2 and c[2][1] > 1
    ]
    if not convs:
        raise ValueError(
            f"{type(model).__name__} has no Conv2d with an output of at least 2×2 for Grad-CAM; "
            "pass --layer NAME, or --method attention / rollout for a ViT"
        )
    name, mod, _ = convs[-1]
    return name, mod, None


def cam_map(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    method: str,
    layer: nn.Module,
    reshape: Callable | None,
) -> torch.Tensor:
    """H×W saliency in [0, 1] of class ``target`` for the batch-of-one ``x`` by ``method``."""
    try:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        raise ValueError(
            f"method {method!r} needs the grad-cam package; pip install grad-cam, or use --method attention"
        ) from None
    cls = getattr(pytorch_grad_cam, CAM_METHODS[method])
    kwargs: dict[str, Any] = {"model": model, "target_layers": [layer], "reshape_transform": reshape}
    if method == "ablationcam" and reshape is not None:
        kwargs["ablation_layer"] = pytorch_grad_cam.AblationLayerVit()
    cam = cls(**kwargs)
    try:
        if hasattr(cam, "batch_size"):
            cam.batch_size = 32
        with contextlib.redirect_stderr(io.StringIO()):  # Score-CAM's tqdm bar
            out = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(target))])
    finally:
        cam.activations_and_grads.release()
    return torch.from_numpy(out[0]).float()


def attention_rollout(maps: list[torch.Tensor], residual: float = 0.5) -> torch.Tensor:
    """Rollout of per-block attention ``[heads, T, T]`` (Abnar & Zuidema, 2020): ``[T, T]``, rows summing to 1."""
    if not maps:
        raise ValueError("attention rollout needs at least one block's attention")
    t = maps[0].shape[-1]
    eye = torch.eye(t, dtype=torch.float64)
    out = eye.clone()
    for a in maps:
        fused = a.double().mean(0) if a.ndim == 3 else a.double()
        fused = residual * eye + (1.0 - residual) * fused
        fused = fused / fused.sum(-1, keepdim=True)
        out = fused @ out
    return out.float()


def token_map(model: nn.Module, matrix: torch.Tensor) -> torch.Tensor:
    """The patch grid of a ``[T, T]`` token matrix: the [CLS] row, or the mean row without a [CLS] token."""
    skip = prefix_tokens(model)
    row = matrix[0] if skip > 0 else matrix.mean(0)
    gh, gw = (int(v) for v in model.patch_embed.grid_size)
    grid = row[skip:].reshape(gh, gw)
    grid = grid - grid.min()
    return grid / grid.max().clamp_min(1e-12)


def attention_map(model: nn.Module, x: torch.Tensor, method: str) -> torch.Tensor:
    """Patch-grid map in [0, 1] of ``x`` (batch of one) by ``attention`` (last block) or ``rollout``."""
    if not hasattr(model, "get_attention_maps") or not is_vit(model):
        raise ValueError(
            f"method {method!r} needs a ViT with get_attention_maps, got {type(model).__name__}; "
            "use --method gradcam for a CNN"
        )
    if method == "attention":
        return token_map(model, model.get_attention_maps(x, layer_idx=-1)[0].mean(0))
    maps = [model.get_attention_maps(x, layer_idx=i)[0] for i in range(len(model.blocks))]
    return token_map(model, attention_rollout(maps))
