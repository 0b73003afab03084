"""Checkpoints written atomically, read with clear errors.

A checkpoint carries what is needed to use it alone: the model's config, its
class names in output order, its input size, bands and normalisation, next to
the model weights and (for ``last.pt``) every state needed to resume.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _publish(tmp: str, path: Path) -> None:
    """Give ``tmp`` the usual permissions (mkstemp makes it 0600) and move it over ``path`` atomically."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically: a kill never leaves a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; one-line errors when missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {str(path)!r} not found; pass a run directory holding last.pt or best.pt"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(
            f"checkpoint {str(path)!r} is unreadable ({type(exc).__name__}); it may be truncated"
        ) from None
    if not isinstance(payload, dict) or "model" not in payload:
        raise ValueError(f"checkpoint {str(path)!r} is not an archlab checkpoint (no 'model' entry)")
    return payload


def rng_state() -> dict[str, Any]:
    import random

    import numpy as np

    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
