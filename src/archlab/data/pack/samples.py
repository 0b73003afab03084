"""Patches read from a pack: one at a time (as the GeoTIFF path does), or a batch at native resolution.

Bringing the 20 m and 60 m bands to the 10 m grid more than doubles the bytes of a
patch (79,200 stored values become 172,800). So a streamed batch leaves the
DataLoader workers as one uint16 array per resolution, ``B×c×s×s``. It reaches the
device (pinned memory on CUDA) and only there becomes the ``B×C×120×120`` float32 batch
(:meth:`BandLayout.assemble`). The upsampling is the GeoTIFF path's
(:func:`archlab.data.geotiff.upsample_nearest`: output pixel i takes input pixel
i // k), so both paths give the same tensor, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from archlab.data.geotiff import MissingSampleFile, SampleError, canonical_band, upsample_nearest
from archlab.data.pack import store
from archlab.data.pack.records import RecordError, RecordLayout


class PackRecordError(SampleError):
    """A bad record of a pack: corrupt, truncated, missing, or a band of the wrong shape."""

    hint = "rewrite it from its source with archlab data pack ... --verify, or set data.on_error=skip"


class MissingPackRecord(PackRecordError, MissingSampleFile):
    """A patch the metadata lists is not in the pack."""


class BandLayout:
    """Where each requested band goes: its channel, its native side, and the group of its side."""

    def __init__(self, bands: Sequence[str], sides: dict[str, int], size: int) -> None:
        self.bands, self.size = list(bands), int(size)
        self.sides = {b: int(sides[b]) for b in self.bands}
        uneven = [f"{b} ({s}x{s})" for b, s in self.sides.items() if self.size % s]
        if uneven:
            raise ValueError(
                f"bands {', '.join(uneven)} do not divide the {self.size}x{self.size} grid evenly; "
                "nearest resampling needs a whole factor: pack those bands at a side that divides it"
            )
        by_side: dict[int, list[int]] = {}
        for c, b in enumerate(self.bands):
            by_side.setdefault(self.sides[b], []).append(c)
        self.groups = sorted(by_side.items(), reverse=True)  # [(side, [channels])], finest first

    def empty(self, n: int) -> tuple[torch.Tensor, ...]:
        """Uninitialised uint16 tensors for ``n`` patches, one ``n×c×s×s`` per resolution.

        Inside a DataLoader worker they are allocated in shared memory, so the batch reaches
        the main process without the copy into shared memory that sending it would make.
        """
        shared = get_worker_info() is not None
        out = []
        for side, channels in self.groups:
            shape = (n, len(channels), side, side)
            if shared:
                storage = torch.UntypedStorage._new_shared(math.prod(shape) * 2)
                out.append(torch.empty(0, dtype=torch.uint16).set_(storage, 0, shape))
            else:
                out.append(torch.empty(shape, dtype=torch.uint16))
        return tuple(out)

    def assemble(self, groups: Sequence[torch.Tensor]) -> torch.Tensor:
        """One ``B×C×size×size`` float32 batch from the per-resolution groups, on their device.

        Each band is written once, converted and upsampled in the same copy: output pixel
        (y, x) takes source pixel (y // k, x // k), k = size / side (2 and 6 for
        BigEarthNet), the GeoTIFF path's :func:`upsample_nearest`; the tests check it for
        every side that divides 120.
        """
        n, device = groups[0].shape[0], groups[0].device
        out = torch.empty((n, len(self.bands), self.size, self.size), dtype=torch.float32, device=device)
        for (side, channels), g in zip(self.groups, groups):
            k = self.size // side
            for j, c in enumerate(channels):
                band = g[:, j, :, None, :, None].expand(n, side, k, side, k)
                out[:, c].view(n, side, k, side, k).copy_(band)
        return out


class PackReader:
    """Reads patches of one pack: ``reader(key)`` is a ``C×size×size`` uint16 array, as a GeoTIFF reader gives.

    ``native`` gives each band's side on its native grid (a band stored already at
    ``size`` is accepted too). Picklable: each process opens the database itself.
    """

    def __init__(self, path: str | Path, bands: Sequence[str], size: int, native: dict[str, int]) -> None:
        self.path = str(Path(path).expanduser())
        self.bands, self.size, self.native = list(bands), int(size), dict(native)
        self._decoder = RecordLayout()
        self.record_key: dict[str, str] = {}
        self.layout: BandLayout | None = None
        self._planned, self._copies = None, []

    @property
    def env(self):
        return store.open_env(self.path)  # this process's environment, opened once

    def where(self, key: str) -> str:
        return f"{self.path} [{key}]"

    def probe(self, key: str) -> None:
        """Learn the record layout from patch ``key``; a pack without the requested bands is a one-line error."""
        with self.env.begin(buffers=True) as txn:
            buf = txn.get(key.encode())
            entries = self._entries(key, buf)
        names = {canonical_band(k): k for k in entries}
        lacking = [b for b in self.bands if b not in names]
        if lacking:
            raise ValueError(
                f"pack {self.path!r} holds bands {', '.join(names)} but data.bands asks for "
                f"{', '.join(lacking)}; pack the archive again with every band, or set data.bands "
                "to bands the pack holds"
            )
        self.record_key = {b: names[b] for b in self.bands}
        sides = {}
        for b in self.bands:
            shape = entries[names[b]].shape
            sides[b] = shape[0] if shape in ((self.native[b],) * 2, (self.size,) * 2) else self.native[b]
        self.layout = BandLayout(self.bands, sides, self.size)

    def _entries(self, key: str, buf):
        """The arrays of the record ``buf`` of ``key``; a missing or undecodable record raises naming the patch."""
        if buf is None:
            raise MissingPackRecord(self.where(key), "patch not in the pack")
        try:
            return self._decoder.entries(buf)
        except RecordError as exc:
            raise PackRecordError(self.where(key), f"corrupt record: {exc}") from None

    def _plan(self, key: str, entries) -> list[tuple[int, int, int, int, int]]:
        """``(group, channel in group, byte start, values, side)`` per requested band, checked
        once per record header (every record of a pack shares one)."""
        if entries is self._planned:
            return self._copies
        copies = []
        for g, (side, channels) in enumerate(self.layout.groups):
            for j, c in enumerate(channels):
                band = self.bands[c]
                e = entries.get(self.record_key[band])
                if e is None:
                    raise PackRecordError(self.where(key), f"record has no band {band}")
                if e.shape != (side, side) or e.dtype != np.uint16:
                    raise PackRecordError(
                        self.where(key),
                        f"band {band} is {e.dtype} {'x'.join(map(str, e.shape))}, "
                        f"expected uint16 {side}x{side} (its native grid)",
                    )
                copies.append((g, j, e.start, e.count, side))
        self._planned, self._copies = entries, copies
        return copies

    def native_batch(self, keys: Sequence[str]) -> tuple[torch.Tensor, ...]:
        """Patches ``keys`` as one uint16 tensor per resolution (see :class:`BandLayout`).

        Each band is copied once, from the database's memory map into the batch. Records are
        read in key order (the database's own order, so neighbouring pages), each into its
        place in the batch.
        """
        out = self.layout.empty(len(keys))
        views = [t.numpy() for t in out]
        with self.env.begin(buffers=True) as txn:
            for i in sorted(range(len(keys)), key=keys.__getitem__):
                key = keys[i]
                buf = txn.get(key.encode())
                for g, j, start, count, side in self._plan(key, self._entries(key, buf)):
                    views[g][i, j] = np.frombuffer(buf, np.uint16, count, start).reshape(side, side)
        return out

    def __call__(self, key: str) -> np.ndarray:
        groups = self.native_batch([key])
        arr = np.empty((len(self.bands), self.size, self.size), np.uint16)
        for (_, channels), g in zip(self.layout.groups, groups):
            for j, c in enumerate(channels):
                arr[c] = upsample_nearest(g[0, j].numpy(), self.size)
        return arr

    def check(self, key: str) -> None:
        """Raise the :class:`PackRecordError` of a bad record (decoding it, without upsampling)."""
        self.native_batch([key])

    def samples(self, sources: Sequence[str], targets: torch.Tensor) -> PackSamples:
        return PackSamples(sources, targets, self)


class PackSamples(Dataset):
    """A split streamed from a pack.

    ``ds[i]`` is ``(C×H×W uint16 tensor, target)``, like the GeoTIFF path's samples.
    ``ds[[i, j, …]]`` is a whole batch: ``(per-resolution uint16 arrays, targets)``. The
    loader asks for that form (``batched``) and turns it into the model's input on the
    device with :meth:`assemble`.
    """

    batched = True

    def __init__(self, sources: Sequence[str], targets: torch.Tensor, reader: PackReader) -> None:
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
        self.sources, self.targets, self.reader = list(sources), targets, reader

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            return self.reader.native_batch([self.sources[i] for i in index]), self.targets[list(index)]
        return torch.from_numpy(self.reader(self.sources[index])), self.targets[index]

    def assemble(self, groups: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.reader.layout.assemble(groups)

    def subset(self, index: torch.Tensor) -> PackSamples:
        """The samples ``index`` (e.g. a validation split carved from train), still read a batch at a time."""
        rows = index.tolist()
        return PackSamples([self.sources[i] for i in rows], self.targets[index], self.reader)
