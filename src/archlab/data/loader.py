"""Batches by indexing a tensor held on the device.

One ``index_select`` per batch replaces a ``DataLoader``'s per-sample fetch,
collate and host-to-device copy. The order of every epoch comes from a
generator seeded by ``(seed, epoch)``, so an epoch can be replayed exactly
after a resume without storing generator state.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.utils.data

from archlab.data.datasets import TensorSplit


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A distinct, reproducible 63-bit seed for ``(seed, epoch, stream)``."""
    return (seed * 1_000_003 + epoch * 7_919 + stream * 104_729) % (2**63 - 1)


def shard(order: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Rank ``rank``'s interleaved share of ``order``, padded by wrapping to ``ceil(n / world)``.

    As ``DistributedSampler`` does: every rank gets the same number of indices, so
    the ranks step together; the padding repeats the first indices of ``order``.
    """
    if world == 1:
        return order
    n = order.numel()
    per = -(-n // world)
    padded = torch.cat([order, order[: per * world - n]]) if per * world > n else order
    return padded[rank::world]


def epoch_order(
    n: int,
    seed: int,
    epoch: int,
    shuffle: bool,
    weights: torch.Tensor | None = None,
    rank: int = 0,
    world: int = 1,
) -> torch.Tensor:
    """One epoch's sample indices (a seeded permutation, a weighted draw, or 0..n-1), then this rank's shard."""
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch, 1))
    if weights is not None:
        order = torch.multinomial(weights, n, replacement=True, generator=g)
    elif shuffle:
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    return shard(order, rank, world)


class _EpochLoader:
    """What both loaders share: the per-epoch seeded order, sharded by rank, in batches."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool,
        seed: int,
        sampler_weights: torch.Tensor | None,
        rank: int,
        world: int,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.n = n
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.sampler_weights = sampler_weights
        self.rank, self.world = rank, world
        self.epoch = 0

    def __len__(self) -> int:
        n = -(-self.n // self.world)  # this rank's share
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> torch.Tensor:
        """This rank's sample order for the current epoch (on the CPU)."""
        order = epoch_order(
            self.n, self.seed, self.epoch, self.shuffle, self.sampler_weights, self.rank, self.world
        )
        return order[: len(self) * self.batch_size] if self.drop_last else order


class BatchLoader(_EpochLoader):
    """Iterate over ``(x_uint8, y)`` batches of a split held on ``device``, by indexing."""

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
        rank: int = 0,
        world: int = 1,
    ) -> None:
        super().__init__(
            len(split),
            batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            seed=seed,
            sampler_weights=sampler_weights,
            rank=rank,
            world=world,
        )
        device = torch.device(device)
        self.x = split.x.to(device, non_blocking=True)
        self.y = split.y.to(device, non_blocking=True)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order().to(self.x.device)
        for start in range(0, order.numel(), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self.x.index_select(0, idx), self.y.index_select(0, idx)


class StreamLoader(_EpochLoader):
    """Iterate over ``(x, y)`` batches of a ``torch.utils.data.Dataset`` through a ``DataLoader``.

    For datasets too large for memory. The order (or the weighted draw) of each
    epoch is seeded by ``(seed, epoch)`` as in :class:`BatchLoader`; batches are
    moved to ``device`` here, so the engine treats both loaders alike.
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        seed: int = 0,
        sampler_weights: torch.Tensor | None = None,
        num_workers: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        super().__init__(
            len(dataset),
            batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            seed=seed,
            sampler_weights=sampler_weights,
            rank=rank,
            world=world,
        )
        self.dataset = dataset
        self.device = torch.device(device)
        self.num_workers = num_workers

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        order = self.order().tolist()
        batched = getattr(self.dataset, "batched", False)  # the dataset reads a whole batch at once
        loader = DataLoader(
            self.dataset,
            batch_size=None if batched else self.batch_size,
            sampler=_chunks(order, self.batch_size) if batched else order,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        for x, y in loader:
            if batched:
                x = self.dataset.assemble([g.to(self.device, non_blocking=True) for g in x])
            else:
                x = x.to(self.device, non_blocking=True)
            yield x, y.to(self.device, non_blocking=True)


def _chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def make_loader(
    split,
    batch_size: int,
    *,
    shuffle: bool,
    device,
    seed: int = 0,
    drop_last: bool = False,
    sampler_weights: torch.Tensor | None = None,
    num_workers: int = 0,
    rank: int = 0,
    world: int = 1,
):
    """A :class:`BatchLoader` for an in-memory split, a :class:`StreamLoader` for any other Dataset."""
    kw = dict(
        shuffle=shuffle,
        drop_last=drop_last,
        device=device,
        seed=seed,
        sampler_weights=sampler_weights,
        rank=rank,
        world=world,
    )
    if isinstance(split, TensorSplit):
        return BatchLoader(split, batch_size, **kw)
    return StreamLoader(split, batch_size, num_workers=num_workers, **kw)


def split_targets(split) -> torch.Tensor:
    """All targets of a split: ``TensorSplit.y``, a Dataset's ``targets``, or read sample by sample."""
    if isinstance(split, TensorSplit):
        return split.y
    targets = getattr(split, "targets", None)
    if targets is not None:
        return torch.as_tensor(targets)
    if isinstance(split, torch.utils.data.Subset):
        return split_targets(split.dataset)[torch.as_tensor(split.indices)]
    return torch.stack([torch.as_tensor(split[i][1]) for i in range(len(split))])


def subset_split(split, index: torch.Tensor):
    """The samples ``index`` of a split, keeping its kind (in memory or streamed)."""
    if isinstance(split, TensorSplit) or hasattr(split, "subset"):
        return split.subset(index)
    return torch.utils.data.Subset(split, index.tolist())
