"""Registries of blocks and attention modules.

Contract (from timm's ``create_attn``): the first positional argument of every
attention module is its channel count, so any block can take any attention by
name. Blocks take ``(in_channels, out_channels, **kwargs)``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from archlab._registry import Registry

ATTENTION = Registry("attention")
BLOCKS = Registry("block")

register_attention = ATTENTION.register
register_block = BLOCKS.register


def create_attention(name: str | None, channels: int, **kwargs: Any) -> nn.Module:
    """Build the attention module ``name`` for ``channels`` channels.

    ``None``, ``""`` and ``"none"`` give ``nn.Identity()``.
    """
    if name is None or name == "" or name == "none":
        return nn.Identity()
    return ATTENTION.get(name)(channels, **kwargs)


def create_block(name: str, in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
    """Build the block ``name`` mapping ``in_channels`` to ``out_channels``."""
    return BLOCKS.get(name)(in_channels, out_channels, **kwargs)


def list_attention(pattern: str | None = None) -> list[str]:
    return ATTENTION.names(pattern)


def list_blocks(pattern: str | None = None) -> list[str]:
    return BLOCKS.names(pattern)
