"""A pack on disk: the one module that names its files.

A pack is a folder laid out as BigEarthNet's authors' encoder rico-hdl writes it
(github.com/kai-tub/rico-hdl, README "BigEarthNet Example"; ConfigILM's
``BENv2_utils.py`` reads it), so packs from either tool are read by the other:

* ``data.mdb`` / ``lock.mdb`` — an LMDB database. Key: the patch name, UTF-8
  (``S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43``; a v1 or EuroSAT name for
  those datasets). Value: a safetensors dictionary of band name (``B01`` … ``B12``,
  ``B8A``; EuroSAT's encoder spells it ``B08A``) to a uint16 array at the band's native
  resolution (BigEarthNet: 120×120 at 10 m, 60×60 at 20 m, 20×20 at 60 m), values
  identical to the GeoTIFFs.

archlab adds two files beside the database, which other tools ignore:

* ``metadata.parquet`` — the packed patches' rows in reBEN's schema (patch_id,
  labels, split, and country where the source has one);
* ``pack.json`` — how the pack was made (dataset, bands, source, subset, counts, what
  was skipped and why), and whether it is complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DATA_FILE = "data.mdb"
METADATA_FILE = "metadata.parquet"
INFO_FILE = "pack.json"
MAP_SIZE = 1 << 40  # the largest the database may grow (1 TiB); the file only takes what it holds
_OPEN: dict[str, tuple[int, Any]] = {}  # LMDB allows one environment per file per process: path -> (pid, env)


def is_pack(path: str | Path) -> bool:
    """Whether ``path`` is a pack folder (it holds an LMDB ``data.mdb``)."""
    return (Path(path) / DATA_FILE).is_file()


def open_env(path: str | Path, *, write: bool = False):
    """The LMDB environment of pack ``path``: read-only (shared in this process) or for writing (created).

    LMDB lets a process open a database once, so the read-only environment of a path is
    kept; a forked process (a DataLoader worker) closes its inherited copy and opens its
    own, and opening one for writing closes this process's reader first.
    """
    import lmdb

    path = Path(path).expanduser()
    cache_key = str(path.resolve())
    pid, env = _OPEN.get(cache_key, (None, None))
    if env is not None and (write or pid != os.getpid()):
        env.close()
        del _OPEN[cache_key]
    elif env is not None:
        return env
    if write:
        path.mkdir(parents=True, exist_ok=True)
        return lmdb.open(str(path), map_size=MAP_SIZE, subdir=True, readahead=False, meminit=False)
    if not path.is_dir():
        raise FileNotFoundError(f"pack {str(path)!r} not found; make one with: archlab data pack")
    if not is_pack(path):
        raise FileNotFoundError(
            f"{str(path)!r} is not a pack: it has no {DATA_FILE} (an LMDB database as rico-hdl or "
            "archlab data pack writes); set data.pack to such a folder"
        )
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, subdir=True, max_readers=512)
    except lmdb.Error as exc:
        raise ValueError(f"pack {str(path)!r}: {DATA_FILE} is not a readable LMDB database ({exc})") from None
    _OPEN[cache_key] = (os.getpid(), env)
    return env


def pack_keys(env) -> list[bytes]:
    """Every key of the database, in key order (values are not read: their pages are not touched)."""
    with env.begin() as txn:
        return list(txn.cursor().iternext(keys=True, values=False))


def put_records(env, records: Iterable[tuple[bytes, bytes]]) -> int:
    """Write ``(key, value)`` records in one transaction: all of them are in the pack, or none is."""
    n = 0
    with env.begin(write=True) as txn:
        for key, value in records:
            txn.put(key, value)
            n += 1
    return n


def read_info(path: str | Path) -> dict[str, Any] | None:
    """``pack.json`` of pack ``path`` (``None`` for a pack from another tool, which has none)."""
    p = Path(path) / INFO_FILE
    if not p.is_file():
        return None
    try:
        info = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: not valid JSON ({exc}); delete it and run archlab data pack again") from None
    return info if isinstance(info, dict) else None


def write_info(path: str | Path, info: dict[str, Any]) -> None:
    """Write ``pack.json`` atomically."""
    from archlab._files import atomic_write_text

    atomic_write_text(Path(path) / INFO_FILE, json.dumps(info, indent=2) + "\n")


def metadata_path(path: str | Path) -> Path:
    """Where a pack keeps its ``metadata.parquet``."""
    return Path(path) / METADATA_FILE


def write_metadata(path: str | Path, table) -> None:
    """Write the pack's ``metadata.parquet`` (a pyarrow table) atomically."""
    import pyarrow.parquet as pq

    from archlab._files import atomic_write

    atomic_write(metadata_path(path), lambda tmp: pq.write_table(table, tmp))


def disk_bytes(path: str | Path) -> int:
    """Bytes the pack's database takes on disk (allocated blocks, so a sparse file counts what it holds)."""
    st = os.stat(Path(path) / DATA_FILE)
    return st.st_blocks * 512
