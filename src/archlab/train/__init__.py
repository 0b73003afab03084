"""Training: the engine, its parts, callbacks, losses and metrics.

``archlab.train`` is this package and is also callable: ``archlab.train(config, callbacks=[...])``
runs :func:`archlab.train.engine.train`, while ``archlab.train.engine`` stays importable.
"""

import sys
import types

from archlab.train.callbacks import Callback, EarlyStopping, RunState, TensorBoard
from archlab.train.engine import OutOfMemory, RunInterrupted, RunResult, train
from archlab.train.evaluate import evaluate
from archlab.train.loop import TrainingDiverged

__all__ = [
    "Callback",
    "EarlyStopping",
    "OutOfMemory",
    "RunInterrupted",
    "RunResult",
    "RunState",
    "TensorBoard",
    "TrainingDiverged",
    "evaluate",
    "train",
]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs) -> RunResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
