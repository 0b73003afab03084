"""BatchLoader: every sample once per epoch, an order that depends on (seed, epoch) only, batch sizes."""

from __future__ import annotations

import pytest
import torch

from archlab.data import BatchLoader, TensorSplit
from archlab.data.loader import epoch_seed


def indexed_split(n: int) -> TensorSplit:
    """A split whose image i holds the value i (and label i % 10), so batches reveal the order."""
    return TensorSplit(torch.arange(n).view(n, 1, 1, 1), torch.arange(n) % 10)


def visited(loader: BatchLoader) -> list[int]:
    out = []
    for xb, yb in loader:
        assert torch.equal(yb, xb.flatten() % 10)  # images and labels stay paired
        out += xb.flatten().tolist()
    return out


def test_every_sample_exactly_once_per_epoch() -> None:
    loader = BatchLoader(indexed_split(103), 10, shuffle=True, seed=3)
    for epoch in range(1, 4):
        loader.set_epoch(epoch)
        seen = visited(loader)
        assert sorted(seen) == list(range(103))
        assert seen != list(range(103))  # shuffled


def test_batch_count_and_sizes() -> None:
    loader = BatchLoader(indexed_split(103), 10, shuffle=True)
    assert len(loader) == 11 and loader.num_samples == 103
    assert [len(y) for _, y in loader] == [10] * 10 + [3]
    dropped = BatchLoader(indexed_split(103), 10, shuffle=True, drop_last=True)
    assert len(dropped) == 10
    seen = visited(dropped)
    assert len(seen) == 100 and len(set(seen)) == 100


def test_no_shuffle_is_in_order() -> None:
    assert visited(BatchLoader(indexed_split(25), 7, shuffle=False)) == list(range(25))


def test_order_depends_on_seed_and_epoch_only() -> None:
    def order(seed: int, epoch: int, global_seed: int) -> list[int]:
        torch.manual_seed(global_seed)  # the global RNG must not matter
        loader = BatchLoader(indexed_split(50), 8, shuffle=True, seed=seed)
        loader.set_epoch(epoch)
        return visited(loader)

    assert order(1, 2, 0) == order(1, 2, 99)
    assert order(1, 2, 0) != order(1, 3, 0)
    assert order(1, 2, 0) != order(2, 2, 0)


def test_epochs_replay_after_a_resume() -> None:
    """A fresh loader set to epoch 3 gives the order epoch 3 had in a long-running one."""
    running = BatchLoader(indexed_split(40), 6, shuffle=True, seed=5)
    orders = {}
    for epoch in (1, 2, 3):
        running.set_epoch(epoch)
        orders[epoch] = visited(running)
    fresh = BatchLoader(indexed_split(40), 6, shuffle=True, seed=5)
    fresh.set_epoch(3)
    assert visited(fresh) == orders[3]
    assert fresh.order().tolist() == orders[3]


def test_iteration_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(0)
    state = torch.get_rng_state()
    loader = BatchLoader(indexed_split(30), 4, shuffle=True, seed=1)
    visited(loader)
    assert torch.equal(torch.get_rng_state(), state)


def test_sampler_weights_draw_with_replacement_by_weight() -> None:
    weights = torch.zeros(20)
    weights[[2, 5]] = 1.0
    loader = BatchLoader(indexed_split(20), 8, shuffle=True, sampler_weights=weights, seed=0)
    seen = visited(loader)
    assert len(seen) == 20 and set(seen) <= {2, 5} and set(seen) == {2, 5}


def test_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch size must be at least 1, got 0"):
        BatchLoader(indexed_split(5), 0, shuffle=False)


def test_epoch_seed_streams_are_distinct() -> None:
    seeds = {epoch_seed(s, e, k) for s in range(3) for e in range(1, 6) for k in range(3)}
    assert len(seeds) == 3 * 5 * 3
    assert all(0 <= v < 2**63 - 1 for v in seeds)
    assert epoch_seed(0, 1, 1) == epoch_seed(0, 1, 1)
