"""Transformer blocks over conv feature maps: map → tokens → encoder → map, and a patch embedding.

``transformer`` is the usual batch-first module; ``transformer_ms`` is seed 000's V3
module (spec ``multispectral_models.md`` §2.13), kept with its sequence-first quirk.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from archlab.blocks.registry import register_block


class SinusoidalPositionalEncoding(nn.Module):
    """Add a fixed sin/cos table to (N, L, D) tokens (Vaswani et al., "Attention Is All You Need", 2017).

    Even dimensions hold sin(pos·ω_i), odd ones cos(pos·ω_i), ω_i = 10000^(−2i/D).
    The table is a buffer of ``max_len × D``; parameters: 0.
    """

    def __init__(self, dim: int, max_len: int = 5000) -> None:
        super().__init__()
        self.max_len = max_len
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        omega = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        pe = torch.zeros(max_len, dim)
        pe[:, 0::2] = torch.sin(position * omega)
        pe[:, 1::2] = torch.cos(position * omega[: dim // 2])
        self.register_buffer("pe", pe)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        if length > self.max_len:
            raise ValueError(
                f"positional encoding holds {self.max_len} positions, got {length} tokens; "
                f"pass max_len >= {length} or feed a smaller feature map"
            )
        return tokens + self.pe[:length]


class TransformerModule(nn.Module):
    """Self-attention over the H·W positions of a feature map, back to a map of the same shape.

    tokens = flatten(x)ᵀ (N, H·W, C) + sinusoidal positions → ``num_layers`` post-norm
    ``nn.TransformerEncoderLayer`` (ReLU FFN of width ``dim_feedforward``) → (N, C, H, W).
    With ``batch_first_fix=False`` the layer is sequence-first while the tokens are laid
    out batch-first, as in seed 000's V3: attention then mixes the images of a batch at
    each position instead of the positions of an image (same parameters, other function).
    Parameters per layer: 4·C² + 4·C (attention) + 2·C·F + F + C (FFN) + 4·C (two LayerNorms).
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 8,
        num_layers: int = 1,
        dim_feedforward: int | None = None,
        dropout: float = 0.1,
        batch_first_fix: bool = True,
        max_len: int = 5000,
    ) -> None:
        super().__init__()
        if num_heads < 1 or channels % num_heads:
            raise ValueError(
                f"transformer: channels={channels} must be divisible by num_heads={num_heads}; "
                f"pick num_heads from the divisors of {channels}"
            )
        self.batch_first_fix = batch_first_fix
        self.pos_encoder = SinusoidalPositionalEncoding(channels, max_len)
        layer = nn.TransformerEncoderLayer(
            d_model=channels,
            nhead=num_heads,
            dim_feedforward=4 * channels if dim_feedforward is None else dim_feedforward,
            dropout=dropout,
            batch_first=batch_first_fix,
        )
        self.transformer_encoder = nn.TransformerEncoder(
            layer, num_layers=num_layers, enable_nested_tensor=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        tokens = self.pos_encoder(x.flatten(2).transpose(1, 2))  # (N, H·W, C)
        tokens = self.transformer_encoder(tokens)
        return tokens.transpose(1, 2).reshape(n, c, h, w)


def check_same_channels(in_channels: int, out_channels: int, name: str) -> None:
    if in_channels != out_channels:
        raise ValueError(
            f"{name} keeps the channel count: got in_channels={in_channels}, out_channels={out_channels}; "
            f"pass the same value twice and change channels with a 1×1 conv"
        )


@register_block("transformer")
def transformer(
    in_channels: int,
    out_channels: int,
    num_heads: int = 8,
    num_layers: int = 1,
    dim_feedforward: int | None = None,
    dropout: float = 0.1,
    max_len: int = 5000,
) -> TransformerModule:
    """Batch-first transformer over a feature map (Vaswani et al. 2017); FFN width 4·C by default."""
    check_same_channels(in_channels, out_channels, "transformer")
    return TransformerModule(
        in_channels, num_heads, num_layers, dim_feedforward, dropout, batch_first_fix=True, max_len=max_len
    )


@register_block("transformer_ms")
def transformer_ms(
    in_channels: int,
    out_channels: int,
    num_heads: int = 8,
    num_layers: int = 1,
    batch_first_fix: bool = False,
) -> TransformerModule:
    """Seed 000's V3 TransformerModule (spec §2.13): FFN 2048, dropout 0.2, sequence-first. 1,315,072 at C=256."""
    check_same_channels(in_channels, out_channels, "transformer_ms")
    return TransformerModule(
        in_channels, num_heads, num_layers, dim_feedforward=2048, dropout=0.2, batch_first_fix=batch_first_fix
    )


@register_block("patch_embed")
class PatchEmbed(nn.Module):
    """Split the image into p×p patches and project each to ``out_channels`` (Dosovitskiy et al., "ViT", 2021).

    A p×p conv with stride p; output tokens (N, H/p·W/p, D), or the (N, D, H/p, W/p)
    map with ``flatten=False``. Parameters: p²·C_in·D + D (+ 2·D with ``norm``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        patch_size: int = 16,
        flatten: bool = True,
        norm: bool = False,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.flatten = flatten
        self.proj = nn.Conv2d(in_channels, out_channels, patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(out_channels) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(
                f"patch_embed: input {h}×{w} is not divisible by patch_size={p}; "
                f"resize or pad to multiples of {p} or pick a patch size dividing both"
            )
        tokens = self.norm(self.proj(x).flatten(2).transpose(1, 2))
        if self.flatten:
            return tokens
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, h // p, w // p)
