"""Training: the engine, losses, metrics, checkpoints."""

from archlab.train.engine import RunResult, TrainingDiverged, evaluate, train

__all__ = ["RunResult", "TrainingDiverged", "evaluate", "train"]
