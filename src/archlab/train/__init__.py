"""Training: the engine, losses, metrics, checkpoints."""

from archlab.train.engine import RunResult, TrainingDiverged, train
from archlab.train.evaluate import evaluate

__all__ = ["RunResult", "TrainingDiverged", "evaluate", "train"]
