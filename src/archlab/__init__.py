"""archlab: design, measure, train and compare image-classification architectures."""

from archlab.models import create_model, list_models, model_info

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "list_models", "model_info"]
