"""Architecture and hyperparameter search under budgets, on Optuna (``archlab search``).

A search file names an experiment to start from, a space of config keys (architecture
variables included), objectives on validation, and budgets checked before training. Each
trial is an ordinary run directory; the study lives in one storage that several workers share.
Optuna is imported on first use, so the rest of archlab (and ``archlab --help``) never waits for it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SearchResult", "search"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from archlab.search import run

        return getattr(run, name)
    raise AttributeError(f"module 'archlab.search' has no attribute {name!r}")
