"""Datasets in memory, batch loaders and batch augmentation."""

from archlab.data import bigearthnet, bigearthnet_v2, eurosat, files, synthetic_ms  # noqa: F401  (register the datasets)
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
