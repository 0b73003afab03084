"""Model zoo: the seeds' own models and the standard families, by name."""

# Importing these modules registers their models.
from archlab.models import hybridnet, mnist, multispectral, timm_zoo  # noqa: F401
from archlab.models.registry import MODELS, create_model, list_models, model_info, register_model

__all__ = [
    "MODELS",
    "create_efficientnet",
    "create_model",
    "create_resnet",
    "create_vit",
    "list_models",
    "model_info",
    "register_model",
]

_FACTORY = ("create_resnet", "create_vit", "create_efficientnet")


def __getattr__(name: str):
    # Seed 003's factory functions, imported on first use (they import timm).
    if name in _FACTORY:
        from archlab.models import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'archlab.models' has no attribute {name!r}")
