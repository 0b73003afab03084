"""Distributed data-parallel training under torchrun.

``torchrun --nproc_per_node=N -m archlab train ...`` (or ``archlab train --nproc N``)
starts N processes; each reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the
environment, joins a process group (gloo on CPU, NCCL on CUDA) and trains a
replica wrapped in ``DistributedDataParallel``. ``data.batch_size`` is per process.

Each epoch every rank draws the same seeded permutation and takes its own
interleaved shard of it (padded by wrapping, as ``DistributedSampler`` does).
Evaluation shards the split the same way, gathers every rank's logits and puts
them back in order, so the metrics are exactly those of one process evaluating
the whole split. Only rank 0 writes files and prints.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from archlab.data.loader import shard as shard  # the sharding of indices lives with the loaders


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, resolved: torch.device) -> torch.device:
        """The device of this rank: ``cuda:LOCAL_RANK`` when training on GPUs."""
        if self.enabled and resolved.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return resolved

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``DistributedDataParallel(model)`` in a distributed run, else ``model`` itself."""
        if not self.enabled:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def average_buffers(self, model: nn.Module) -> None:
        """Average floating-point buffers (BatchNorm running statistics) over the ranks.

        DDP keeps parameters identical but lets each rank update its own running
        statistics in the last forward passes; averaging them at the end of each
        epoch gives every replica the same weights and statistics of all the data.
        """
        if not self.enabled:
            return
        for buf in model.buffers():
            if buf.is_floating_point():
                dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                buf.div_(self.world)

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_shards(self, t: torch.Tensor, total: int) -> torch.Tensor:
        """Reassemble a split from interleaved per-rank shards of equal (padded) length."""
        if not self.enabled:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.contiguous())
        stacked = torch.stack(parts, dim=1)  # shard_len × world × ...
        return stacked.reshape(-1, *t.shape[1:])[:total]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_from_env(device_type: str) -> DistContext:
    """Join the process group torchrun describes; a single process when ``WORLD_SIZE`` is unset or 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=10))
    return DistContext(rank=rank, world=world, local_rank=local_rank)


def launch(nproc: int, argv: list[str]) -> int:
    """``archlab train --nproc N ...``: re-run this command under torchrun with N processes on this machine."""
    import subprocess
    import sys

    if nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {nproc}")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "archlab",
        *argv,
    ]
    return subprocess.call(cmd)
