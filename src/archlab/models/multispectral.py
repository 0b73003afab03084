"""Seed 000's multispectral land-cover CNNs: Custom V1–V9 and WRN-B4-ECA (BigEarthNet, 12 bands, 19 classes).

Built layer by layer from ``/work/shared/specs/multispectral_models.md`` §3; stage names
follow the original attributes (``spectral_mixer``, ``block1`` …). Every conv, norm and
linear is its own module, called once per forward, so torchinfo reproduces the published
mult-adds. The blocks are the spec's exact variants (the ``*_ms`` names in
``archlab.blocks``). Outputs are raw logits (multi-label: sigmoid + 0.5 threshold outside).

This module is the table of registered names; the networks live in
:mod:`archlab.models.multispectral_nets` (V1–V4, WRN-B4-ECA and the layer helpers) and
:mod:`archlab.models.multispectral_fusion` (V5–V9), and every public name is importable from here.
"""

from __future__ import annotations

from archlab.models.multispectral_fusion import (
    MultiSkipFusionNet,
    MultispectralV5,
    MultispectralV6,
    MultispectralV7,
    MultispectralV8,
    MultispectralV9,
    down_block,
    first_block,
    spectral_mixer,
)
from archlab.models.multispectral_nets import (
    MS_CLASSES,
    MS_INPUT,
    WRNB4ECA,
    MultispectralV1,
    MultispectralV2,
    MultispectralV3,
    MultispectralV4,
    check_match,
    conv1x1,
    conv3x3,
    head,
)
from archlab.models.registry import register_model

__all__ = [
    "MS_CLASSES",
    "MS_INPUT",
    "WRNB4ECA",
    "MultiSkipFusionNet",
    "MultispectralV1",
    "MultispectralV2",
    "MultispectralV3",
    "MultispectralV4",
    "MultispectralV5",
    "MultispectralV6",
    "MultispectralV7",
    "MultispectralV8",
    "MultispectralV9",
    "check_match",
    "conv1x1",
    "conv3x3",
    "down_block",
    "first_block",
    "head",
    "spectral_mixer",
]


def _register(name: str, section: str):
    return register_model(
        name,
        input_size=MS_INPUT,
        num_classes=MS_CLASSES,
        source=f"seed 000 (spec §{section})",
        task="multi_label",
    )


@_register("multispectral_v1", "3.1")
def multispectral_v1(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV1:
    """Custom V1, 1,975,770 parameters at 12×120×120 / 19 classes."""
    return MultispectralV1(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v2", "3.2")
def multispectral_v2(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV2:
    """Custom V2, 1,804,410 parameters."""
    return MultispectralV2(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v3", "3.3")
def multispectral_v3(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV3:
    """Custom V3, 8,517,006 parameters; sequence-first transformer as published (``batch_first_fix=True`` fixes it)."""
    return MultispectralV3(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v3_fixed", "3.3")
def multispectral_v3_fixed(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV3:
    """Custom V3 with the transformer attending across positions (batch-first); 8,517,006 parameters."""
    return MultispectralV3(num_classes=num_classes, in_chans=in_chans, batch_first_fix=True, **kwargs)


@_register("multispectral_v4", "3.4")
def multispectral_v4(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV4:
    """Custom V4, 12,650,898 parameters."""
    return MultispectralV4(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v5", "3.5")
def multispectral_v5(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV5:
    """Custom V5, 1,716,240 parameters."""
    return MultispectralV5(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v6", "3.6")
def multispectral_v6(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV6:
    """Custom V6, 2,048,528 parameters."""
    return MultispectralV6(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v7", "3.7")
def multispectral_v7(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV7:
    """Custom V7, 950,761 parameters."""
    return MultispectralV7(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v8", "3.8")
def multispectral_v8(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV8:
    """Custom V8, 962,328 parameters."""
    return MultispectralV8(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("multispectral_v9", "3.9")
def multispectral_v9(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> MultispectralV9:
    """Custom V9, 939,604 parameters."""
    return MultispectralV9(num_classes=num_classes, in_chans=in_chans, **kwargs)


@_register("wrn_b4_eca", "3.10")
def wrn_b4_eca(num_classes: int = MS_CLASSES, in_chans: int = 12, **kwargs) -> WRNB4ECA:
    """WRN-B4-ECA, 985,837 parameters (including the idle ``bn2`` layers)."""
    return WRNB4ECA(num_classes=num_classes, in_chans=in_chans, **kwargs)
