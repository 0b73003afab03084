"""The standard families, built by timm under timm's own names, with archlab's pretrained loading.

Each factory returns exactly ``timm.create_model(name, num_classes=..., in_chans=...)`` (same
parameter count as timm for the same arguments); ``pretrained`` (``True`` for the hub cache, or a
path to a local weights file) goes through :mod:`archlab.models.pretrained`, which adapts the
first layer to any ``in_chans`` and drops a head of another size. The registered input size is
timm's default ``pretrained_cfg['input_size']``. ViTs get ``get_attention_maps`` (see
:mod:`archlab.models.factory`). timm is imported on first use, so listing models stays fast.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from archlab.models.registry import register_model


def create_timm(
    name: str,
    num_classes: int = 1000,
    in_chans: int = 3,
    pretrained: bool | str = False,
    **kwargs: Any,
) -> nn.Module:
    """Build timm model ``name`` with random weights, then load ``pretrained`` weights if given."""
    if int(num_classes) < 0:
        raise ValueError(f"{name}: num_classes must be >= 0 (0 removes the classifier), got {num_classes}")
    if int(in_chans) < 1:
        raise ValueError(f"{name}: in_chans must be >= 1, got {in_chans}")
    import timm

    model = timm.create_model(
        name, pretrained=False, num_classes=int(num_classes), in_chans=int(in_chans), **kwargs
    )
    from archlab.models.factory import with_attention_maps

    model = with_attention_maps(model)
    if pretrained:
        from archlab.models.pretrained import load_pretrained

        load_pretrained(model, pretrained, in_chans=int(in_chans), num_classes=int(num_classes))
    return model


@register_model("resnet18", input_size=(3, 224, 224), num_classes=1000, source="timm resnet18")
def resnet18(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", 2016) — 11,689,512 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "resnet18", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("resnet34", input_size=(3, 224, 224), num_classes=1000, source="timm resnet34")
def resnet34(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """ResNet-34 (He et al., 2016) — 21,797,672 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "resnet34", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("resnet50", input_size=(3, 224, 224), num_classes=1000, source="timm resnet50")
def resnet50(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """ResNet-50, bottleneck blocks (He et al., 2016) — 25,557,032 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "resnet50", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("resnet101", input_size=(3, 224, 224), num_classes=1000, source="timm resnet101")
def resnet101(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """ResNet-101 (He et al., 2016) — 44,549,160 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "resnet101", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("resnet152", input_size=(3, 224, 224), num_classes=1000, source="timm resnet152")
def resnet152(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """ResNet-152 (He et al., 2016) — 60,192,808 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "resnet152", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("resnext50_32x4d", input_size=(3, 224, 224), num_classes=1000, source="timm resnext50_32x4d")
def resnext50_32x4d(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """ResNeXt-50 32×4d, grouped bottlenecks (Xie et al., "Aggregated Residual Transformations", 2017) — 25,028,904 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "resnext50_32x4d", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("seresnet50", input_size=(3, 224, 224), num_classes=1000, source="timm seresnet50")
def seresnet50(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """SE-ResNet-50, squeeze-and-excitation in every bottleneck (Hu et al., 2018) — 28,088,024 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "seresnet50", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("densenet121", input_size=(3, 224, 224), num_classes=1000, source="timm densenet121")
def densenet121(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """DenseNet-121, growth rate 32 (Huang et al., "Densely Connected Convolutional Networks", 2017) — 7,978,856 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "densenet121", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("vgg16", input_size=(3, 224, 224), num_classes=1000, source="timm vgg16")
def vgg16(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """VGG-16 without BatchNorm (Simonyan & Zisserman, 2015); timm's head keeps the 7×7 fc6 as a conv — 138,357,544 parameters at 3×224×224, 1000 classes."""
    return create_timm("vgg16", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs)


@register_model("mobilenetv2_100", input_size=(3, 224, 224), num_classes=1000, source="timm mobilenetv2_100")
def mobilenetv2_100(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """MobileNetV2 ×1.0, inverted residuals (Sandler et al., 2018) — 3,504,872 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "mobilenetv2_100", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model(
    "mobilenetv3_small_100", input_size=(3, 224, 224), num_classes=1000, source="timm mobilenetv3_small_100"
)
def mobilenetv3_small_100(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """MobileNetV3-Small ×1.0 (Howard et al., "Searching for MobileNetV3", 2019) — 2,542,856 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "mobilenetv3_small_100", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model(
    "mobilenetv3_large_100", input_size=(3, 224, 224), num_classes=1000, source="timm mobilenetv3_large_100"
)
def mobilenetv3_large_100(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """MobileNetV3-Large ×1.0 (Howard et al., 2019) — 5,483,032 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "mobilenetv3_large_100", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("efficientnet_b0", input_size=(3, 224, 224), num_classes=1000, source="timm efficientnet_b0")
def efficientnet_b0(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """EfficientNet-B0 (Tan & Le, "EfficientNet: Rethinking Model Scaling", 2019) — 5,288,548 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "efficientnet_b0", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("efficientnet_b1", input_size=(3, 240, 240), num_classes=1000, source="timm efficientnet_b1")
def efficientnet_b1(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """EfficientNet-B1 (Tan & Le, 2019) — 7,794,184 parameters at 3×240×240, 1000 classes."""
    return create_timm(
        "efficientnet_b1", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("efficientnet_b2", input_size=(3, 256, 256), num_classes=1000, source="timm efficientnet_b2")
def efficientnet_b2(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """EfficientNet-B2 (Tan & Le, 2019) — 9,109,994 parameters at 3×256×256, 1000 classes."""
    return create_timm(
        "efficientnet_b2", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("efficientnet_b3", input_size=(3, 288, 288), num_classes=1000, source="timm efficientnet_b3")
def efficientnet_b3(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """EfficientNet-B3 (Tan & Le, 2019) — 12,233,232 parameters at 3×288×288, 1000 classes."""
    return create_timm(
        "efficientnet_b3", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("efficientnet_b4", input_size=(3, 320, 320), num_classes=1000, source="timm efficientnet_b4")
def efficientnet_b4(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """EfficientNet-B4 (Tan & Le, 2019) — 19,341,616 parameters at 3×320×320, 1000 classes."""
    return create_timm(
        "efficientnet_b4", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("efficientnet_b5", input_size=(3, 448, 448), num_classes=1000, source="timm efficientnet_b5")
def efficientnet_b5(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """EfficientNet-B5 (Tan & Le, 2019) — 30,389,784 parameters at 3×448×448, 1000 classes."""
    return create_timm(
        "efficientnet_b5", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("efficientnet_b6", input_size=(3, 528, 528), num_classes=1000, source="timm efficientnet_b6")
def efficientnet_b6(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """EfficientNet-B6 (Tan & Le, 2019) — 43,040,704 parameters at 3×528×528, 1000 classes."""
    return create_timm(
        "efficientnet_b6", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model("efficientnet_b7", input_size=(3, 600, 600), num_classes=1000, source="timm efficientnet_b7")
def efficientnet_b7(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """EfficientNet-B7 (Tan & Le, 2019) — 66,347,960 parameters at 3×600×600, 1000 classes."""
    return create_timm(
        "efficientnet_b7", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model(
    "vit_tiny_patch16_224", input_size=(3, 224, 224), num_classes=1000, source="timm vit_tiny_patch16_224"
)
def vit_tiny_patch16_224(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """ViT-Ti/16, width 192, 3 heads (Touvron et al., DeiT, 2021; Dosovitskiy et al., 2021) — 5,717,416 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "vit_tiny_patch16_224", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model(
    "vit_small_patch16_224", input_size=(3, 224, 224), num_classes=1000, source="timm vit_small_patch16_224"
)
def vit_small_patch16_224(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """ViT-S/16, width 384, 6 heads (Touvron et al., DeiT, 2021) — 22,050,664 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "vit_small_patch16_224", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )


@register_model(
    "vit_base_patch16_224", input_size=(3, 224, 224), num_classes=1000, source="timm vit_base_patch16_224"
)
def vit_base_patch16_224(
    num_classes: int = 1000, in_chans: int = 3, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """ViT-B/16, width 768, 12 heads (Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021) — 86,567,656 parameters at 3×224×224, 1000 classes."""
    return create_timm(
        "vit_base_patch16_224", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )
