"""archlab: design, measure, train and compare image-classification architectures."""

__version__ = "0.1.0"

from archlab import train  # noqa: E402  (a package that is also callable: archlab.train(config))
from archlab.models import create_model, list_models, model_info  # noqa: E402
from archlab.report import callback as _report_callback  # noqa: E402, F401  (registers run.report)

__all__ = ["__version__", "create_model", "list_models", "model_info", "train"]
