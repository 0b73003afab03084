"""Datasets in memory, batch loaders and batch augmentation."""

from archlab.data import files  # noqa: F401  (registers imagefolder, csv, synthetic)
from archlab.data.augment import BatchTransform
from archlab.data.datasets import TensorDataset, TensorSplit, list_datasets, load_dataset, register_dataset
from archlab.data.loader import BatchLoader

__all__ = [
    "BatchLoader",
    "BatchTransform",
    "TensorDataset",
    "TensorSplit",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]
