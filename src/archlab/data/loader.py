"""Batches by indexing a tensor held on the device.

One ``index_select`` per batch replaces a ``DataLoader``'s per-sample fetch,
collate and host-to-device copy. The order of every epoch comes from a
generator seeded by ``(seed, epoch)``, so an epoch can be replayed exactly
after a resume without storing generator state.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from archlab.data.datasets import TensorSplit


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A distinct, reproducible 63-bit seed for ``(seed, epoch, stream)``."""
    return (seed * 1_000_003 + epoch * 7_919 + stream * 104_729) % (2**63 - 1)


class BatchLoader:
    """Iterate over ``(x_uint8, y)`` batches of a split held on ``device``."""

    def __init__(
        self,
        split: TensorSplit,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        seed: int = 0,
        sampler_weights: torch.Tensor | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        device = torch.device(device)
        self.x = split.x.to(device, non_blocking=True)
        self.y = split.y.to(device, non_blocking=True)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.sampler_weights = sampler_weights
        self.epoch = 0

    def __len__(self) -> int:
        n = self.x.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> torch.Tensor:
        """The sample order of the current epoch (on the CPU)."""
        n = self.num_samples
        if self.sampler_weights is not None:
            g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch, 1))
            return torch.multinomial(self.sampler_weights, n, replacement=True, generator=g)
        if not self.shuffle:
            return torch.arange(n)
        g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch, 1))
        return torch.randperm(n, generator=g)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order().to(self.x.device)
        stop = len(self) * self.batch_size if self.drop_last else order.numel()
        for start in range(0, stop, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self.x.index_select(0, idx), self.y.index_select(0, idx)
