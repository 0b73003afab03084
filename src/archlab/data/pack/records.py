"""One pack record: a safetensors dictionary of band name to array, as rico-hdl writes it.

Records are written with the ``safetensors`` package itself (:func:`encode`). They are
read here, by :class:`RecordLayout`, without ``safetensors.numpy.load``: that function
copies every tensor into a new ``bytes`` object before NumPy sees it, and measured
on this project's 2-core machine it decodes about 7,000 BigEarthNet records per second,
a third of the loader's target. The safetensors format is one little-endian u64 header
length, a JSON header (``{name: {"dtype", "shape", "data_offsets"}}``, optional
``__metadata__``) and the raw buffer. :class:`RecordLayout` validates a header once
against the format's rules and then reads arrays as views into the LMDB page,
so records that share a header (every record of a pack does) cost one byte compare
and one copy per band. The tests check it against ``safetensors.numpy.load``.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping

import numpy as np

# safetensors dtype codes (the format's own names) -> NumPy dtypes.
DTYPES = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
    "U32": np.uint32, "I32": np.int32, "U64": np.uint64, "I64": np.int64,
    "F16": np.float16, "F32": np.float32, "F64": np.float64,
}  # fmt: skip
MAX_HEADER = 100_000_000  # the format's limit on the JSON header (bytes)


class RecordError(ValueError):
    """A record that is not a valid safetensors dictionary (corrupt or truncated); the message says how."""


def encode(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A record: ``arrays`` (band name -> C-contiguous array) serialised by ``safetensors.numpy.save``."""
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v) for k, v in arrays.items()})


class Entry:
    """Where one array lies in a record: dtype, shape and byte offsets from the record's start."""

    __slots__ = ("dtype", "shape", "start", "count")

    def __init__(self, dtype: np.dtype, shape: tuple[int, ...], start: int, count: int) -> None:
        self.dtype, self.shape, self.start, self.count = dtype, shape, start, count


class RecordLayout:
    """Reads records, remembering the last header seen (records of one pack share it)."""

    def __init__(self) -> None:
        self._header = b""
        self._entries: dict[str, Entry] = {}
        self._size = 0

    def entries(self, buf) -> dict[str, Entry]:
        """The arrays of record ``buf`` (bytes or memoryview); :class:`RecordError` when it is not valid."""
        if len(buf) < 8:
            raise RecordError(f"record of {len(buf)} bytes is shorter than a safetensors header")
        (n,) = struct.unpack_from("<Q", buf, 0)
        if n > MAX_HEADER or 8 + n > len(buf):
            raise RecordError(f"header length {n:,} does not fit a record of {len(buf):,} bytes (truncated?)")
        header = bytes(buf[8 : 8 + n])
        if header != self._header:
            self._entries, self._size = _parse(header, 8 + n)
            self._header = header
        if len(buf) != self._size:
            raise RecordError(
                f"record has {len(buf):,} bytes but its header describes {self._size:,} (truncated or padded)"
            )
        return self._entries

    def arrays(self, buf, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """The arrays of ``buf`` (all, or ``names``) as NumPy views into ``buf``; copy them before ``buf`` goes."""
        entries = self.entries(buf)
        return {
            k: np.frombuffer(buf, e.dtype, e.count, e.start).reshape(e.shape)
            for k, e in entries.items()
            if names is None or k in names
        }


def _parse(header: bytes, base: int) -> tuple[dict[str, Entry], int]:
    """Validate a safetensors JSON header; the entries (offsets from the record start) and the record size."""
    try:
        meta = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"header is not JSON ({exc.__class__.__name__}); the record is corrupt") from None
    if not isinstance(meta, dict):
        raise RecordError("header is not a JSON object; the record is corrupt")
    entries: dict[str, Entry] = {}
    spans = []
    for name, info in meta.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(DTYPES[info["dtype"]])
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise RecordError(f"header entry {name!r} is malformed; the record is corrupt") from None
        count = math.prod(shape)
        if end - begin != count * dtype.itemsize or begin < 0:
            raise RecordError(
                f"array {name!r}: {end - begin} bytes do not hold shape {list(shape)} of {info['dtype']}"
            )
        entries[name] = Entry(dtype, shape, base + begin, count)
        spans.append((begin, end))
    spans.sort()
    pos = 0
    for begin, end in spans:  # the format requires the arrays to tile the buffer exactly
        if begin != pos:
            raise RecordError("arrays overlap or leave gaps in the buffer; the record is corrupt")
        pos = end
    return entries, base + pos
