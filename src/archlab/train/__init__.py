"""Training: the engine, losses, metrics, checkpoints.

``archlab.train`` is this package and is also callable: ``archlab.train(config)`` runs
:func:`archlab.train.engine.train`, while ``archlab.train.engine`` stays importable.
"""

import sys
import types

from archlab.train.engine import RunResult, TrainingDiverged, train
from archlab.train.evaluate import evaluate

__all__ = ["RunResult", "TrainingDiverged", "evaluate", "train"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs) -> RunResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
