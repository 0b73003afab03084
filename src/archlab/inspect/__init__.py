"""Exact model measurement: parameters, MACs, activation memory, receptive field, diffs.

``summarize`` runs one instrumented forward pass and returns a :class:`ModelSummary`;
``torchsummary_table`` and ``torchinfo_estimate`` reproduce what those tools print, so
their figures can be set beside the measured ones; ``diff`` compares two summaries.
"""

from archlab.inspect.diff import ModelDiff, diff
from archlab.inspect.styles import torchinfo_estimate, torchsummary_table
from archlab.inspect.summary import LayerRow, ModelSummary, ReceptiveField, parameter_counts, summarize
from archlab.inspect.trace import count_macs

__all__ = [
    "LayerRow",
    "ModelDiff",
    "ModelSummary",
    "ReceptiveField",
    "count_macs",
    "diff",
    "parameter_counts",
    "summarize",
    "torchinfo_estimate",
    "torchsummary_table",
]
