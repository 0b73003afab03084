"""What a run sets up before its first epoch: device, seeds, determinism, the model for the data."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch
from torch import nn

from archlab.data.datasets import TensorDataset
from archlab.models import create_model, model_info


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unavailable explicit device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"run.device {name!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("run.device is cuda but no CUDA GPU is available; use run.device=auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("run.device is mps but MPS is not available; use run.device=auto or cpu")
    return device


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_determinism(enabled: bool) -> None:
    """Deterministic algorithms (and cuDNN) on or off, for this process."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled


def build_model_for(cfg, data: TensorDataset) -> nn.Module:
    """Create ``cfg.model`` for the dataset's classes and bands (checking they agree), frozen as ``model.freeze`` says."""
    c = data.input_size[0]
    num_classes = cfg.model.num_classes or data.num_classes
    in_chans = cfg.model.in_chans or c
    if num_classes != data.num_classes:
        raise ValueError(
            f"model.num_classes is {num_classes} but dataset {data.name!r} has {data.num_classes} classes; "
            "remove model.num_classes or set it to the dataset's"
        )
    if in_chans != c:
        raise ValueError(
            f"model.in_chans is {in_chans} but dataset {data.name!r} has {c} bands; "
            "remove model.in_chans or set it to the dataset's"
        )
    model = create_model(
        cfg.model.name,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=cfg.model.pretrained,
        **cfg.model.kwargs,
    )
    from archlab.models.freeze import freeze

    try:
        freeze(model, cfg.model.freeze, num_classes=num_classes)
    except ValueError as exc:
        raise ValueError(f"model.freeze: {exc}") from None
    return model


def check_forward(
    model: nn.Module, input_size: tuple[int, int, int], name: str, device: torch.device
) -> None:
    """Run one eval-mode forward on zeros, turning a shape error into a one-line ValueError."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, *input_size, device=device))
    except (RuntimeError, ValueError) as exc:
        default = model_info(name)["input_size"]
        first = str(exc).strip().splitlines()[0]
        raise ValueError(
            f"model {name!r} cannot take inputs of {'x'.join(map(str, input_size))} (its default input is "
            f"{'x'.join(map(str, default))}): {first}"
        ) from None
    finally:
        model.train(was_training)


def environment(device: torch.device | None = None) -> dict[str, Any]:
    cuda = device is not None and device.type == "cuda"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "device": str(device) if device is not None else None,
        "cuda": torch.version.cuda if cuda else None,
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
    }
