"""Model zoo: the seeds' own models, every timm and torchvision classifier, by name (see ``registry``)."""

# Importing these modules registers archlab's own models and the timm and torchvision sources.
from archlab.models import hybridnet, mnist, multispectral, timm_source, torchvision_source  # noqa: F401
from archlab.models.freeze import freeze
from archlab.models.registry import (
    MODELS,
    PRECEDENCE,
    create_model,
    list_models,
    model_info,
    register_model,
    sources_of,
)

__all__ = [
    "MODELS",
    "PRECEDENCE",
    "create_efficientnet",
    "create_model",
    "create_resnet",
    "create_vit",
    "freeze",
    "list_models",
    "model_info",
    "register_model",
    "sources_of",
]

_FACTORY = ("create_resnet", "create_vit", "create_efficientnet")


def __getattr__(name: str):
    # Seed 003's factory functions, imported on first use (they import timm).
    if name in _FACTORY:
        from archlab.models import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'archlab.models' has no attribute {name!r}")
