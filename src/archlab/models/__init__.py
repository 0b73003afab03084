"""Model zoo: the seeds' own models and the standard families, by name."""

# Importing these modules registers their models.
from archlab.models import hybridnet, mnist, multispectral, timm_zoo  # noqa: F401
from archlab.models.registry import MODELS, create_model, list_models, model_info, register_model

__all__ = ["MODELS", "create_model", "list_models", "model_info", "register_model"]
