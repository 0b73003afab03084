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

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

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
        by_side: dict[int, list[int]] = {}
        for c, b in enumerate(self.bands):
            by_side.setdefault(self.sides[b], []).append(c)
        self.groups = sorted(by_side.items(), reverse=True)  # [(side, [channels])], finest first

    def empty(self, n: int) -> tuple[np.ndarray, ...]:
        """Uninitialised uint16 arrays for ``n`` patches, one ``n×c×s×s`` per resolution."""
        return tuple(np.empty((n, len(ch), s, s), np.uint16) for s, ch in self.groups)

    def assemble(self, groups: Sequence[torch.Tensor]) -> torch.Tensor:
        """One ``B×C×size×size`` float32 batch from the per-resolution groups, on their device.

        ``interpolate(mode="nearest")`` to ``size`` takes source pixel floor(i · s / size),
        which is i // k for the integer factors k = size / s of these grids (2 and 6 for
        BigEarthNet); the tests check it against :func:`upsample_nearest` for every side.
        """
        import torch.nn.functional as F

        n, device = groups[0].shape[0], groups[0].device
        out = torch.empty((n, len(self.bands), self.size, self.size), dtype=torch.float32, device=device)
        for (side, channels), g in zip(self.groups, groups):
            g = g.to(torch.float32)
            if side != self.size:
                g = F.interpolate(g, size=(self.size, self.size), mode="nearest")
            for j, c in enumerate(channels):
                out[:, c] = g[:, j]
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

    def _decode(self, key: str, buf, out: tuple[np.ndarray, ...], i: int) -> None:
        entries = self._entries(key, buf)
        for (side, channels), arr in zip(self.layout.groups, out):
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
                arr[i, j] = np.frombuffer(buf, np.uint16, e.count, e.start).reshape(side, side)

    def native_batch(self, keys: Sequence[str]) -> tuple[np.ndarray, ...]:
        """Patches ``keys`` as one uint16 array per resolution (see :class:`BandLayout`)."""
        out = self.layout.empty(len(keys))
        with self.env.begin(buffers=True) as txn:
            for i, key in enumerate(keys):
                self._decode(key, txn.get(key.encode()), out, i)
        return out

    def __call__(self, key: str) -> np.ndarray:
        groups = self.native_batch([key])
        arr = np.empty((len(self.bands), self.size, self.size), np.uint16)
        for (_, channels), g in zip(self.layout.groups, groups):
            for j, c in enumerate(channels):
                arr[c] = upsample_nearest(g[0, j], self.size)
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
