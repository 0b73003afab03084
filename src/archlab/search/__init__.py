"""Architecture and hyperparameter search under budgets, on Optuna (``archlab search``).

A search file names an experiment to start from, a space of config keys (architecture
variables included), objectives on validation, and budgets checked before training. Each
trial is an ordinary run directory; the study lives in one storage that several workers share.
"""

from archlab.search.run import SearchResult, search

__all__ = ["SearchResult", "search"]
