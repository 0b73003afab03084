"""Multispectral data at scale: packing, loader throughput, memory growth, listing, and a V9 epoch.

    python benchmarks/bench_pack.py generate --out /tmp/ben --patches 20000   # reBEN layout, random uint16
    python benchmarks/bench_pack.py pack --archive /tmp/ben --pack /tmp/ben.pack --workers 2
    python benchmarks/bench_pack.py loader --archive /tmp/ben --pack /tmp/ben.pack --workers 2
    python benchmarks/bench_pack.py memory --archive /tmp/ben --pack /tmp/ben.pack
    python benchmarks/bench_pack.py listing --out /tmp/ben480k               # 480,038 rows, spec §5.7 counts
    python benchmarks/bench_pack.py epoch --pack /tmp/ben.pack --patches 2000

``generate`` writes a BigEarthNet v2 archive in its real layout: ``metadata.parquet``,
``BigEarthNet-S2/<tile>/<patch>/<patch>_<band>.tif`` at native resolution, and the
``Reference_Maps`` and ``BigEarthNet-S1`` folders TorchGeo's ``BigEarthNetV2`` requires.
Bands are random uint16. ``loader`` times, in one run, the pack (native-resolution batches
from the DataLoader, then with the batch assembled to 12×120×120 float32 as a CPU
training step gets it), archlab's GeoTIFF path, and TorchGeo's ``BigEarthNetV2`` when
it is installed (``pip install -e .[torchgeo]``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

S2 = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
SIDE = {"B01": 20, "B09": 20, "B05": 60, "B06": 60, "B07": 60, "B8A": 60, "B11": 60, "B12": 60}
COUNTRIES = {  # spec §5.7
    "Finland": 155_227, "Portugal": 89_792, "Serbia": 73_385, "Lithuania": 48_365, "Ireland": 48_326,
    "Austria": 43_797, "Belgium": 11_196, "Switzerland": 4_874, "Luxembourg": 3_460, "Kosovo": 1_616,
}  # fmt: skip
SPLITS = {"train": 237_871, "validation": 122_342, "test": 119_825}  # spec §5.7


def _ids(n: int) -> list[str]:
    tiles = [f"S2A_MSIL2A_20170613T101031_N9999_R022_T{t:02d}UUP" for t in range(max(1, n // 4000))]
    return [f"{tiles[i % len(tiles)]}_{i // 100 % 10000}_{i % 100}" for i in range(n)]


def _metadata(n: int, seed: int = 0):
    """``n`` rows in reBEN's schema with spec §5.7's split and country shares and 1–6 skewed labels each."""
    import pyarrow as pa

    from archlab.data.bigearthnet import CLASSES_CANONICAL

    rng = np.random.default_rng(seed)
    ids = _ids(n)
    split = rng.choice(list(SPLITS), n, p=np.array(list(SPLITS.values())) / sum(SPLITS.values()))
    country = rng.choice(list(COUNTRIES), n, p=np.array(list(COUNTRIES.values())) / sum(COUNTRIES.values()))
    freq = 1.0 / np.arange(1, 20) ** 0.8
    labels = [
        sorted(rng.choice(CLASSES_CANONICAL, rng.integers(1, 7), replace=False, p=freq / freq.sum()).tolist())
        for _ in range(n)
    ]
    return pa.table(
        {
            "patch_id": ids,
            "labels": pa.array(labels, pa.list_(pa.string())),
            "split": split.tolist(),
            "country": country.tolist(),
            "s1_name": [
                f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{p.rsplit('_', 2)[-2]}_{p.rsplit('_', 1)[-1]}"
                for p in ids
            ],
            "s2v1_name": [
                f"S2A_MSIL2A_20170613T101031_{p.rsplit('_', 2)[-2]}_{p.rsplit('_', 1)[-1]}" for p in ids
            ],
            "contains_seasonal_snow": [False] * n,
            "contains_cloud_or_shadow": [False] * n,
        }
    )


def _write_patches(args: tuple[str, list[str], int]) -> None:
    from archlab.data.geotiff import write_geotiff

    out, ids, seed = args
    rng = np.random.default_rng(seed)
    for pid in ids:
        tile = pid.rsplit("_", 2)[0]
        folder = Path(out) / "BigEarthNet-S2" / tile / pid
        folder.mkdir(parents=True, exist_ok=True)
        for b in S2:
            s = SIDE.get(b, 120)
            arr = rng.integers(0, 10_000, (s, s), dtype=np.uint16)
            write_geotiff(
                folder / f"{pid}_{b}.tif", arr, pixel_size=1200 / s, origin=(3e5, 5.3e6), epsg=32633
            )
        ref = Path(out) / "Reference_Maps" / tile / pid
        ref.mkdir(parents=True, exist_ok=True)
        write_geotiff(
            ref / f"{pid}_reference_map.tif",
            rng.choice(np.array([211, 311, 312], np.uint16), (120, 120)),
            pixel_size=10.0,
            origin=(3e5, 5.3e6),
            epsg=32633,
        )


def generate(args) -> None:
    import multiprocessing as mp

    import pyarrow.parquet as pq

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "BigEarthNet-S1").mkdir(exist_ok=True)
    table = _metadata(args.patches)
    pq.write_table(table, out / "metadata.parquet")
    ids = table["patch_id"].to_pylist()
    jobs = [(str(out), ids[i : i + 500], i) for i in range(0, len(ids), 500)]
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(args.workers) as pool:
        for k, _ in enumerate(pool.imap_unordered(_write_patches, jobs)):
            print(f"\r{(k + 1) * 500:,} / {len(ids):,} patches written", end="", flush=True)
    print(f"\nwrote {len(ids):,} patches to {out} in {time.perf_counter() - t0:.0f} s")


def _du(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def pack(args) -> None:
    from archlab.data.pack.build import pack_archive

    t0 = time.perf_counter()
    result = pack_archive("bigearthnet_v2", args.archive, args.pack, workers=args.workers, progress=False)
    wall = time.perf_counter() - t0
    n = result.written + result.existing
    src = _du(Path(args.archive) / "BigEarthNet-S2")
    print(_machine())
    print(
        f"packed {result.written:,} patches with {args.workers} workers in {wall:.1f} s: {result.written / wall:,.0f} patches/s"
    )
    print(
        f"pack {result.bytes_on_disk / n / 1e3:,.1f} kB per patch on disk; GeoTIFFs {src / n / 1e3:,.1f} kB per patch (12 files)"
    )


def _dataset(root: str, pack: str | None, in_memory: bool = False, **kw):
    from archlab.config import DataConfig
    from archlab.data.datasets import load_dataset

    return load_dataset(DataConfig(name="bigearthnet_v2", root=root, pack=pack, in_memory=in_memory, **kw))


def _rate(batches, limit: int) -> tuple[float, int, float]:
    """``(patches/s after the first batch, patches timed, seconds to the first batch)``.

    The first batch carries the one-off costs (starting workers, opening the database,
    the first page faults), reported apart so that the rate is the steady one.
    """
    n, t0 = 0, time.perf_counter()
    first, t1 = None, t0
    for x, _ in batches:
        size = (x[0] if isinstance(x, (list, tuple)) else x).shape[0]
        if first is None:
            first, t1 = time.perf_counter() - t0, time.perf_counter()
            continue
        n += size
        if n >= limit:
            break
    return n / (time.perf_counter() - t1), n, first


def loader(args) -> None:
    from torch.utils.data import DataLoader, Subset

    from archlab.data.loader import StreamLoader, _chunks

    ds = _dataset(args.archive, args.pack)
    train = ds.train
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0)).tolist()
    rows = []
    for w in args.worker_counts:
        native = DataLoader(train, batch_size=None, sampler=_chunks(order, args.batch), num_workers=w)
        rows.append((f"pack, native-resolution batches, {w} workers", *_rate(native, len(order))))
    for w in args.worker_counts:
        stream = StreamLoader(train, args.batch, shuffle=True, num_workers=w, seed=0)
        rows.append(
            (f"pack, assembled 12×120×120 float32 on the CPU, {w} workers", *_rate(stream, len(order)))
        )
    geo = _dataset(args.archive, None).train
    stream = StreamLoader(geo, args.batch, shuffle=True, num_workers=max(args.worker_counts), seed=0)
    rows.append(
        (
            f"GeoTIFF folders (archlab), {max(args.worker_counts)} workers",
            *_rate(stream, args.geotiff_patches),
        )
    )
    try:
        from torchgeo.datasets import BigEarthNetV2

        tg = BigEarthNetV2(args.archive, split="train", bands="s2")
        sub = Subset(tg, order[: args.geotiff_patches])
        dl = DataLoader(sub, batch_size=args.batch, num_workers=max(args.worker_counts))
        rows.append(
            (f"TorchGeo {__import__('torchgeo').__version__} BigEarthNetV2, {max(args.worker_counts)} workers",
             *_rate(((b["image"], b["label"]) for b in dl), args.geotiff_patches))
        )  # fmt: skip
    except ImportError:
        rows.append(("TorchGeo: not installed (pip install -e .[torchgeo])", float("nan"), 0, float("nan")))
    print(_machine())
    print(f"train split {len(train):,} patches, batch {args.batch}, shuffled; one run")
    print("| path | patches/s (after the first batch) | patches timed | first batch (s) |\n|---|---|---|---|")
    for name, rate, n, first in rows:
        print(f"| {name} | {rate:,.0f} | {n:,} | {first:.2f} |")


def _rss_child(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


MEM_CODE = """
import json, resource, sys, time
sys.path.insert(0, {bench!r})
from bench_pack import _dataset
import archlab.data.pack.datasets, archlab.data.bigearthnet_v2, pyarrow.parquet
def anon():  # private memory (kB): what the process itself holds, without the page cache its maps show
    return int(next(l for l in open("/proc/self/status") if l.startswith("RssAnon:")).split()[1])
base, base_anon = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, anon()
t0 = time.perf_counter()
ds = _dataset({root!r}, {pack!r}, in_memory={in_memory!r})
print(json.dumps({{"mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024, "s": time.perf_counter() - t0,
                  "anon_mb": (anon() - base_anon) / 1024, "n": len(ds.train) + len(ds.test) + len(ds.val or [])}}))
"""


def _subset(archive: Path, pack: Path, n: int, tmp: Path) -> tuple[str, str]:
    """An archive root and a pack holding the first ``n`` metadata rows (the patches are links to the full ones)."""
    import pyarrow.parquet as pq

    from archlab.data.pack import store

    root, sub = tmp / f"{n}" / "root", tmp / f"{n}" / "pack"
    for d in (root, sub):
        d.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(store.metadata_path(pack)).slice(0, n)
    pq.write_table(table, root / "metadata.parquet")
    pq.write_table(table, store.metadata_path(sub))
    for link, target in (
        (root / "BigEarthNet-S2", archive / "BigEarthNet-S2"),
        (sub / "data.mdb", pack / "data.mdb"),
    ):
        if not link.exists():
            link.symlink_to(target.resolve())
    return str(root), str(sub)


def memory(args) -> None:
    import tempfile

    bench = str(Path(__file__).resolve().parent)
    print(_machine())
    print(
        "| path | patches | private memory added (MB) | per patch (kB) | peak RSS added, page cache included (MB) | seconds |\n"
        "|---|---|---|---|---|---|"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, use_pack, in_memory, sizes in (
            ("pack, streamed", True, False, args.sizes),
            ("GeoTIFF folders, streamed", False, False, args.sizes),
            ("GeoTIFF folders, in memory", False, True, args.memory_sizes),
        ):
            for n in sizes:
                root, pack = _subset(Path(args.archive), Path(args.pack), n, Path(tmp))
                code = MEM_CODE.format(
                    bench=bench, root=root, pack=pack if use_pack else None, in_memory=in_memory
                )
                r = _rss_child(code)
                print(
                    f"| {name} | {r['n']:,} | {r['anon_mb']:,.1f} | {r['anon_mb'] * 1024 / r['n']:,.2f} | "
                    f"{r['mb']:,.1f} | {r['s']:.2f} |"
                )


def listing(args) -> None:
    import pyarrow.parquet as pq

    from archlab.data.pack import store
    from archlab.data.pack.records import encode

    out = Path(args.out)
    if not store.is_pack(out):
        table = _metadata(args.rows)
        rng = np.random.default_rng(0)
        env = store.open_env(out, write=True)
        ids = table["patch_id"].to_pylist()
        for i in range(0, len(ids), 5000):
            recs = [
                (
                    p.encode(),
                    encode(
                        {b: rng.integers(0, 10_000, (SIDE[b], SIDE[b]), dtype=np.uint16) for b in args.bands}
                    ),
                )
                for p in ids[i : i + 5000]
            ]
            store.put_records(env, recs)
        env.close()
        pq.write_table(table, out / "metadata.parquet")
    code = (
        "import json,resource,sys,time\n"
        f"sys.path.insert(0,{str(Path(__file__).resolve().parent)!r})\n"
        "from bench_pack import _dataset\nimport archlab.data.pack.datasets\n"
        "anon=lambda: int(next(l for l in open('/proc/self/status') if l.startswith('RssAnon:')).split()[1])\n"
        "base,a0=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,anon()\nt0=time.perf_counter()\n"
        f"ds=_dataset('.', {str(out)!r}, bands={list(args.bands)!r})\n"
        "print(json.dumps({'s':time.perf_counter()-t0,'mb':(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss-base)/1024,"
        "'anon':(anon()-a0)/1024,'n':len(ds.train)+len(ds.test)+len(ds.val)}))"
    )
    print(_machine())
    for _ in range(args.repeat):
        r = _rss_child(code)
        print(f"listed {r['n']:,} rows against a pack of {len(store.pack_keys(store.open_env(out))):,} keys: "
              f"{r['s']:.2f} s, private memory +{r['anon']:,.0f} MB, peak RSS +{r['mb']:,.0f} MB")  # fmt: skip


def epoch(args) -> None:
    import cProfile
    import pstats

    from archlab import train

    overrides = [
        f"data.pack={args.pack}", "data.in_memory=false", f"data.num_workers={args.workers}",
        f"data.limit={args.patches}", "data.val_split=0", "train.epochs=1", "train.eval_test=false",
        "run.progress=false", "run.summary=false", f"run.out_dir={args.out}", f"data.batch_size={args.batch}",
    ]  # fmt: skip
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    train("configs/bigearthnet/v9.yaml", overrides=overrides, echo=lambda s: None)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    rows = {f"{Path(k[0]).name}:{k[2]}": v[3] for k, v in stats.stats.items()}
    print(_machine())
    print(
        f"V9, one epoch of {args.patches:,} patches from the pack (batch {args.batch}, {args.workers} workers): {wall:.1f} s"
    )
    for name in sorted(rows, key=rows.get, reverse=True)[: args.top]:
        print(f"  {rows[name]:8.1f} s  {name}")
    print("the data path's parts (cumulative seconds):")
    for name in (
        "samples.py:native_batch",
        "samples.py:assemble",
        "loader.py:__iter__",
        "augment.py:__call__",
    ):
        print(f"  {rows.get(name, 0.0):8.2f} s  {name}")


def _machine() -> str:
    return (
        f"{platform.node()} | {platform.processor() or platform.machine()} | torch {torch.__version__} | "
        f"{torch.get_num_threads()} threads | maxrss now {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("generate")
    p.add_argument("--out", required=True)
    p.add_argument("--patches", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("pack")
    p.add_argument("--archive", required=True)
    p.add_argument("--pack", required=True)
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("loader")
    p.add_argument("--archive", required=True)
    p.add_argument("--pack", required=True)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--worker-counts", type=int, nargs="+", default=[0, 2])
    p.add_argument("--geotiff-patches", type=int, default=2560)
    p = sub.add_parser("memory")
    p.add_argument("--archive", required=True)
    p.add_argument("--pack", required=True)
    p.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10000, 20000])
    p.add_argument("--memory-sizes", type=int, nargs="+", default=[500, 1000, 2000])
    p = sub.add_parser("listing")
    p.add_argument("--out", required=True)
    p.add_argument("--rows", type=int, default=480_038)
    p.add_argument("--bands", nargs="+", default=["B01", "B05", "B09"])
    p.add_argument("--repeat", type=int, default=3)
    p = sub.add_parser("epoch")
    p.add_argument("--pack", required=True)
    p.add_argument("--patches", type=int, default=2000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="/tmp/bench_pack_runs")
    p.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    globals()[args.what](args)


if __name__ == "__main__":
    main()
