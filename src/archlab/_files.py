"""Atomic writes for every artefact archlab writes (runs, searches, packs), and the one-line error for a full disk.

Every file of a run goes to a temporary name in its own folder, is flushed to disk, then
moved over the old one with ``os.replace``: a kill or a full disk never leaves a half
file, and the previous version survives.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

# What torch's zip writer says when the disk fills (it does not keep the errno).
_TORCH_WRITE_FAILED = ("file write failed", "No space left", "unexpected pos", "iostream error")


class DiskFull(OSError):
    """A run file could not be written for lack of space; what it replaced is kept."""

    def __init__(self, path: Path, kept: str = "") -> None:
        free = _free_bytes(path.parent)
        message = f"no space left on the device writing {path} ({_size(free)} free there)"
        if kept:
            message += f"; {kept}"
        super().__init__(errno.ENOSPC, message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[1])


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc) for s in _TORCH_WRITE_FAILED)


def unique_dir(out_dir: str | Path, base: str) -> Path:
    """Create ``out_dir/base``, or ``base-2``, ``base-3`` … when taken: a run or search never reuses a folder."""
    out = Path(out_dir)
    path, k = out / base, 1
    while path.exists():
        k += 1
        path = out / f"{base}-{k}"
    path.mkdir(parents=True)
    return path


def atomic_write(path: str | Path, write: Callable[[str], None], kept: str = "") -> None:
    """Call ``write(tmp_name)`` and move the result over ``path``; ``DiskFull`` when space runs out.

    ``kept`` completes the disk-full message (which earlier file still holds what).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        _publish(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(exc):
            raise DiskFull(path, kept) from None
        raise


def atomic_write_bytes(path: str | Path, data: bytes, kept: str = "") -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and ``os.replace``."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write(path, write, kept)


def atomic_write_text(path: str | Path, text: str, kept: str = "") -> None:
    atomic_write_bytes(path, text.encode(), kept)


def _publish(tmp: str, path: Path) -> None:
    """Give ``tmp`` the usual permissions (mkstemp makes it 0600) and move it over ``path``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _size(n: int | None) -> str:
    if n is None:
        return "unknown space"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} bytes"
