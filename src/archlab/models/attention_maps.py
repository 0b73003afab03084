"""Attention weights of timm ViTs: ``get_attention_maps`` and the ``ViTWithAttentionMaps`` class.

Every plain timm ``VisionTransformer`` that :func:`archlab.create_model` builds is given the
``get_attention_maps(image, layer_idx=-1) -> [batch, heads, tokens, tokens]`` method; its
parameters and state_dict stay timm's.
"""

from __future__ import annotations

from typing import Any

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the wanted activation is captured."""


def get_attention_maps(model: nn.Module, image: torch.Tensor, layer_idx: int = -1) -> torch.Tensor:
    """Attention weights ``softmax(q·kᵀ/√d)`` of block ``layer_idx`` of a timm ViT: ``[B, heads, tokens, tokens]``.

    timm's fused attention never materialises the weights, so they are recomputed from the
    block's own ``qkv`` projection (and q/k norms) applied to the block's attention input,
    captured by a hook. The model runs in eval mode, without gradients; its mode is restored.
    """
    blocks = getattr(model, "blocks", None)
    if blocks is None or not len(blocks) or not hasattr(blocks[0], "attn"):
        raise ValueError(
            f"get_attention_maps needs a timm ViT with .blocks[i].attn, got {type(model).__name__}"
        )
    depth = len(blocks)
    if not -depth <= layer_idx < depth:
        raise ValueError(
            f"layer_idx must be in [{-depth}, {depth - 1}] for a {depth}-block ViT, got {layer_idx}"
        )
    if image.ndim == 3:
        image = image.unsqueeze(0)
    attn = blocks[layer_idx].attn
    captured: list[torch.Tensor] = []

    def grab(module: nn.Module, args: tuple[Any, ...]) -> None:
        captured.append(args[0])
        raise _StopForward

    handle = attn.register_forward_pre_hook(grab)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                getattr(model, "forward_features", model)(image)
            except _StopForward:
                pass
            if not captured:
                raise ValueError(
                    f"block {layer_idx} of {type(model).__name__} was not reached by forward_features"
                )
            x = captured[0]
            batch, tokens, _ = x.shape
            heads = int(attn.num_heads)
            head_dim = int(getattr(attn, "head_dim", attn.qkv.out_features // (3 * heads)))
            qkv = attn.qkv(x).reshape(batch, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
            q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])
            scale = float(getattr(attn, "scale", head_dim**-0.5))
            return ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1)
    finally:
        handle.remove()
        model.train(was_training)


class ViTWithAttentionMaps(VisionTransformer):
    """A timm ``VisionTransformer`` (same parameters and state_dict) with ``get_attention_maps``."""

    def get_attention_maps(self, image: torch.Tensor, layer_idx: int = -1) -> torch.Tensor:
        """Attention weights of block ``layer_idx``: ``[batch, heads, tokens, tokens]``, rows summing to 1."""
        return get_attention_maps(self, image, layer_idx)


def with_attention_maps(model: nn.Module) -> nn.Module:
    """Give a plain timm ``VisionTransformer`` the ``get_attention_maps`` method; other models pass through."""
    if type(model) is VisionTransformer:
        model.__class__ = ViTWithAttentionMaps  # adds a method only: no state changes
    return model
