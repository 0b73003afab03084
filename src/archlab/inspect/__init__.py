"""Exact model measurement: parameters, MACs, activation memory, receptive field, diffs."""
