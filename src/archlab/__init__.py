"""archlab: design, measure, train and compare image-classification architectures."""

__version__ = "0.1.0"

from archlab.models import create_model, list_models, model_info  # noqa: E402
from archlab.train.engine import train  # noqa: E402  (archlab.train(config) is the Python entry point)

__all__ = ["__version__", "create_model", "list_models", "model_info", "train"]
