"""``archlab data pack``: a GeoTIFF archive, or a stratified subset of it, into a pack.

Workers read and encode patches (one safetensors record each, bands at native
resolution); the main process writes them into LMDB, one transaction per chunk.
LMDB commits a transaction whole or not at all, so a killed run leaves no half
record. Running the same command again skips the keys already in the pack, and
``pack.json`` refuses a resume with other options. ``--verify`` reads every record
back against its source and rewrites any that differ.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from archlab.data.pack import store
from archlab.data.pack.records import RecordError, RecordLayout
from archlab.data.pack.sources import Source, open_source, record_reader

CHUNK = 64  # patches per worker task and per write transaction
FORMAT = "rico-hdl lmdb+safetensors"


@dataclass
class PackResult:
    """What a pack run did: patches written now, already there, skipped (with reasons), verified, rewritten."""

    path: Path
    selected: int
    written: int = 0
    existing: int = 0
    skipped: list[str] = field(default_factory=list)
    verified: int = 0
    rewritten: int = 0
    seconds: float = 0.0
    bytes_on_disk: int = 0
    source_bytes: int = 0

    def summary(self) -> list[str]:
        """Lines for the terminal: counts, speed, size per patch, and the skipped by reason."""
        n = self.written + self.existing
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"pack {self.path}: {n:,} of {self.selected:,} selected patches "
            f"({self.written:,} written now at {rate:,.0f} patches/s, {self.existing:,} already there)"
        ]
        if n:
            per = self.bytes_on_disk / n
            src = (
                f"; the sources {self.source_bytes / max(self.written, 1) / 1e3:,.1f} kB"
                if self.source_bytes
                else ""
            )
            lines.append(
                f"size on disk {self.bytes_on_disk / 1e9:.2f} GB, {per / 1e3:,.1f} kB per patch{src}"
            )
        if self.verified:
            lines.append(
                f"verified {self.verified:,} records against their sources; {self.rewritten:,} rewritten"
            )
        if self.skipped:
            reasons = Counter(_reason(s) for s in self.skipped)
            lines.append(
                f"skipped {len(self.skipped):,}: "
                + "; ".join(f"{k} ({v:,})" for k, v in reasons.most_common())
            )
            lines.append(f"first skipped: {self.skipped[0]}")
        return lines


def _reason(record: str) -> str:
    """The kind of a skip record, without the path: ``"<path>: <problem> (detail)"`` -> problem."""
    problem = record.split(": ", 1)[-1]
    return problem.split(" (")[0].split(";")[0]


def select_rows(
    table, *, fraction: float = 1.0, seed: int = 0, splits: Sequence[str] = (), countries: Sequence[str] = ()
) -> np.ndarray:
    """Row indices of ``table`` to pack, in table order.

    ``splits`` and ``countries`` filter on those columns. ``fraction`` then draws a
    systematic sample stratified by split and exact label set: the rows are ordered
    by stratum (randomly within each) and every 1/fraction-th is taken from a random
    start. The total is ``fraction × rows`` (rounded), every stratum gets its share
    to within one row, and a label set rarer than 1/fraction is kept with chance
    ``fraction`` rather than always dropped. The draw depends only on ``seed``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not 0 < fraction <= 1:
        raise ValueError(f"--fraction must be in (0, 1], got {fraction}")
    n = table.num_rows
    keep = np.ones(n, bool)
    for column, wanted, flag in (("split", splits, "--splits"), ("country", countries, "--countries")):
        if not wanted:
            continue
        if column not in table.column_names:
            raise ValueError(f"{flag}: this archive's metadata has no {column!r} column")
        values = table[column].fill_null("")
        known = set(pc.unique(values).to_pylist())
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise ValueError(
                f"{flag}: {', '.join(unknown)} not in the metadata; it has {', '.join(sorted(known))}"
            )
        keep &= pc.is_in(values, value_set=pa.array(list(wanted))).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(keep)
    if fraction == 1 or rows.size == 0:
        return rows
    sets = [
        "|".join(sorted(x or [])) + "#" + str(s)
        for x, s in zip(
            table["labels"].take(pa.array(rows)).to_pylist(), table["split"].take(pa.array(rows)).to_pylist()
        )
    ]
    _, group = np.unique(np.array(sets, dtype=object), return_inverse=True)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(rows.size)
    order = perm[np.argsort(group[perm], kind="stable")]  # grouped by stratum, random within each
    steps = np.floor(np.arange(rows.size + 1) * fraction + rng.random())
    return np.sort(rows[order[np.diff(steps) > 0]])


def _options(dataset: str, root: Path, fraction: float, seed: int, splits, countries) -> dict:
    return {
        "dataset": dataset,
        "source": str(root),
        "fraction": fraction,
        "seed": seed,
        "splits": sorted(splits),
        "countries": sorted(countries),
    }


def pack_archive(
    dataset: str,
    root: str | Path,
    out: str | Path,
    *,
    workers: int = 1,
    fraction: float = 1.0,
    seed: int = 0,
    splits: Sequence[str] = (),
    countries: Sequence[str] = (),
    verify: bool = False,
    progress: bool = True,
    cfg=None,
    echo: Callable[[str], None] = print,
) -> PackResult:
    """Pack archive ``root`` of ``dataset`` into ``out`` (resuming a pack that is there); see the module doc."""
    from archlab.config import DataConfig

    root, out = Path(root).expanduser().resolve(), Path(out).expanduser()
    cfg = cfg or DataConfig(name=dataset, root=str(root))
    source = open_source(dataset, root, cfg)
    options = _options(dataset, root, fraction, seed, splits, countries)
    old = store.read_info(out) if out.is_dir() else None
    if old is not None and {k: old.get(k) for k in options} != options:
        changed = ", ".join(f"{k} {old.get(k)!r} -> {v!r}" for k, v in options.items() if old.get(k) != v)
        raise ValueError(
            f"pack {str(out)!r} was started with other options ({changed}); resume with the same options "
            "or pack into a new --out folder"
        )
    rows = select_rows(source.table, fraction=fraction, seed=seed, splits=splits, countries=countries)
    table = source.table.take(rows)
    ids = table["patch_id"].to_pylist()
    result = PackResult(out, selected=len(ids))
    absent = [pid for pid in ids if pid not in source.paths]
    result.skipped += source.skipped + [
        f"{root} (patch {pid}): patch not found in the archive" for pid in absent
    ]
    env = store.open_env(out, write=True)
    try:
        return _pack(env, source, out, options, old, table, ids, result, workers, progress, verify)
    finally:
        env.close()


def _pack(env, source, out, options, old, table, ids, result, workers, progress, verify) -> PackResult:
    store.write_info(out, {**(old or {}), **options, "format": FORMAT, "complete": False})
    have = set(store.pack_keys(env))
    todo = [(pid, source.paths[pid]) for pid in ids if pid in source.paths and pid.encode() not in have]
    result.existing = sum(pid.encode() in have for pid in ids)
    t0 = time.perf_counter()
    bad = _write(env, source, todo, workers, progress, "packing", result)
    result.seconds = time.perf_counter() - t0
    result.skipped += bad
    if verify:
        _verify(
            env,
            source,
            [(pid, source.paths[pid]) for pid in ids if pid in source.paths],
            workers,
            progress,
            result,
        )
    packed = set(store.pack_keys(env))
    mask = np.array([pid.encode() in packed for pid in ids], bool)
    store.write_metadata(out, table.filter(mask) if len(ids) else table)
    result.bytes_on_disk = store.disk_bytes(out)
    result.source_bytes = _source_bytes(source, todo[:200], len(todo))
    store.write_info(
        out,
        {
            **options,
            "format": FORMAT,
            "complete": True,
            "patches": int(mask.sum()),
            "bands": sorted(_first_bands(env)),
            "skipped": result.skipped,
        },
    )
    return result


def _pool(workers: int):
    import multiprocessing as mp

    return mp.get_context("fork").Pool(workers) if workers > 1 else None  # workers read files only


def _results(fn, items: list, workers: int):
    """``fn`` over ``items`` in order, in ``workers`` processes (or here), a chunk at a time."""
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    pool = _pool(workers)
    try:
        if pool is None:
            for chunk in chunks:
                yield [fn(x) for x in chunk]
        else:
            yield from pool.imap(_ChunkFn(fn), chunks)
    finally:
        if pool is not None:
            pool.terminate()


class _ChunkFn:
    def __init__(self, fn) -> None:
        self.fn = fn

    def __call__(self, chunk):
        return [self.fn(x) for x in chunk]


def _bar(total: int, progress: bool, what: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="patch", desc=what, disable=not progress, dynamic_ncols=True, smoothing=0.1)


def _write(
    env, source: Source, todo: list, workers: int, progress: bool, what: str, result: PackResult
) -> list[str]:
    """Encode ``todo`` in workers and write each chunk in one transaction; the skip records."""
    from archlab._files import DiskFull, is_disk_full

    skipped: list[str] = []
    with _bar(len(todo), progress, what) as bar:
        for chunk in _results(record_reader(source), todo, workers):
            records = [(k.encode(), v) for k, v, _ in chunk if v is not None]
            skipped += [why for _, v, why in chunk if v is None]
            try:
                result.written += store.put_records(env, records)
            except Exception as exc:
                if is_disk_full(exc) or "MDB_MAP_FULL" in str(exc):
                    kept = f"the pack holds {len(store.pack_keys(env)):,} patches; free space and run the same command to resume"
                    raise DiskFull(result.path / store.DATA_FILE, kept) from None
                raise
            bar.update(len(chunk))
    return skipped


def _verify(env, source: Source, items: list, workers: int, progress: bool, result: PackResult) -> None:
    """Compare every record with its source, band by band; rewrite those that differ or do not decode."""
    layout_new, layout_old = RecordLayout(), RecordLayout()
    with _bar(len(items), progress, "verifying") as bar:
        for chunk in _results(record_reader(source), items, workers):
            fix = []
            with env.begin(buffers=True) as txn:
                for key, fresh, _ in chunk:
                    if fresh is None:
                        continue
                    stored = txn.get(key.encode())
                    result.verified += stored is not None
                    if stored is None or not _same(layout_old, stored, layout_new, fresh):
                        fix.append((key.encode(), fresh))
            result.rewritten += store.put_records(env, fix) if fix else 0
            bar.update(len(chunk))


def _same(layout_old: RecordLayout, stored, layout_new: RecordLayout, fresh: bytes) -> bool:
    try:
        a = layout_old.arrays(stored)
    except RecordError:
        return False
    b = layout_new.arrays(fresh)
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in b)


def _first_bands(env) -> list[str]:
    with env.begin(buffers=True) as txn:
        for _, value in txn.cursor():
            try:
                return list(RecordLayout().entries(value))
            except RecordError:
                continue
    return []


def _source_bytes(source: Source, sample: list, total: int) -> int:
    """Bytes of the GeoTIFFs behind ``total`` patches, estimated from the first ones of ``sample``."""
    if not sample:
        return 0
    size = 0
    for _, path in sample:
        p = Path(path)
        size += (
            sum(f.stat().st_size for f in p.iterdir() if f.suffix.lower() in (".tif", ".tiff"))
            if p.is_dir()
            else p.stat().st_size
        )
    return int(size / len(sample) * total)
