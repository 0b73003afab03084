"""LMDB packs (rico-hdl's format): records, ``archlab data pack`` (subsets, resume, verify) and reading.

A pack must give exactly the tensors its GeoTIFFs give, for every dataset, layout,
band selection and loading mode; bad records are one-line errors or, under
``on_error: skip``, dropped and counted.
"""

from __future__ import annotations

import json
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import lmdb
import numpy as np
import pyarrow.parquet as pq
import pytest
import safetensors.numpy
import torch

from archlab.config import DataConfig
from archlab.data import TensorSplit, load_dataset
from archlab.data.bigearthnet import S2_BANDS, V1_ARCHIVE_DIR, V2_ARCHIVE_DIR, native_size, v2_tile
from archlab.data.eurosat import EUROSAT_CLASSES, EUROSAT_FILE_BANDS
from archlab.data.fixtures import write_bigearthnet_v1, write_bigearthnet_v2, write_eurosat_ms
from archlab.data.geotiff import read_geotiff
from archlab.data.loader import make_loader
from archlab.data.pack import build, store
from archlab.data.pack.build import pack_archive, select_rows
from archlab.data.pack.records import RecordError, RecordLayout, encode
from archlab.data.pack.samples import PackRecordError

N_V2 = 24  # 12 train, 6 validation, 6 test
N_SMALL = 12  # 6 train, 3 validation, 3 test
PER_CLASS = 2  # EuroSAT: 20 images
SUBSET = ["B12", "B01", "B04"]
NAMES = {"v2": "bigearthnet_v2", "v2_stacked": "bigearthnet_v2", "v1": "bigearthnet", "eurosat": "eurosat_ms"}
SPLITS = ("train", "val", "test")


# ---- fixtures and helpers ----------------------------------------------------------------------


def _archive(factory: pytest.TempPathFactory, kind: str):
    root = factory.mktemp(kind)
    if kind == "v2":
        fx = write_bigearthnet_v2(root, N_V2, seed=0)
    elif kind == "v2_stacked":
        fx = write_bigearthnet_v2(root, N_SMALL, seed=1, layout="stacked")
    elif kind == "v1":
        fx = write_bigearthnet_v1(root, N_SMALL, seed=2)
    else:
        fx = write_eurosat_ms(root, PER_CLASS, seed=3)
    out = factory.mktemp(f"{kind}_pack") / "pack"
    result = pack_archive(NAMES[kind], root, out, progress=False)
    return root, fx, out, result


@pytest.fixture(scope="session")
def v2(tmp_path_factory):
    """(archive root, Fixture, pack folder, PackResult) of a 24-patch reBEN archive in folders."""
    return _archive(tmp_path_factory, "v2")


@pytest.fixture(scope="session")
def archives(tmp_path_factory, v2) -> dict:
    return {"v2": v2, **{k: _archive(tmp_path_factory, k) for k in ("v2_stacked", "v1", "eurosat")}}


_TIF_CACHE: dict = {}


def cfg(kind: str, root: Path, pack: Path | None = None, **kw) -> DataConfig:
    if kind == "eurosat":
        kw.setdefault("test_split", 0.5)  # 10 test images, one per class: a stratified carve
    return DataConfig(name=NAMES[kind], root=str(root), pack=None if pack is None else str(pack), **kw)


def tif_data(archives: dict, kind: str, bands=None):
    """The dataset read from the GeoTIFFs, in memory (cached per archive and band selection)."""
    key = (kind, tuple(bands or ()))
    if key not in _TIF_CACHE:
        _TIF_CACHE[key] = load_dataset(cfg(kind, archives[kind][0], bands=bands))
    return _TIF_CACHE[key]


def read_records(pack: Path) -> dict[bytes, bytes]:
    """Every record of a pack, through this process's read-only environment (LMDB allows one per file)."""
    with store.open_env(pack).begin() as txn:
        return {bytes(k): bytes(v) for k, v in txn.cursor()}


def count_records(pack: Path) -> int:
    """Records committed so far, read with a read-only, lock-free environment closed again at once."""
    env = lmdb.open(str(pack), readonly=True, lock=False, subdir=True)
    try:
        return env.stat()["entries"]
    finally:
        env.close()


def put_record(pack: Path, key: str, value: bytes | None) -> None:
    """Overwrite (or, with ``None``, delete) one record in one write transaction."""
    env = store.open_env(pack, write=True)  # closes this process's reader of the pack first
    try:
        with env.begin(write=True) as txn:
            if value is None:
                assert txn.delete(key.encode())
            else:
                txn.put(key.encode(), value)
    finally:
        env.close()


def copy_pack(pack: Path, dest: Path) -> Path:
    shutil.copytree(pack, dest)
    return dest


def as_rico_pack(pack: Path) -> Path:
    """``pack`` as rico-hdl leaves one: the LMDB alone, without archlab's metadata and pack.json."""
    (pack / store.METADATA_FILE).unlink()
    (pack / store.INFO_FILE).unlink()
    return pack


def v2_band_file(root: Path, pid: str, band: str) -> Path:
    return root / V2_ARCHIVE_DIR / v2_tile(pid) / pid / f"{pid}_{band}.tif"


def v2_source(root: Path, pid: str) -> dict[str, np.ndarray]:
    return {b: read_geotiff(v2_band_file(root, pid, b))[0] for b in S2_BANDS}


def split_of(ds, key: str):
    return {"train": ds.train, "val": ds.val, "test": ds.test}[key]


def streamed(split, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*make_loader(split, batch_size=5, shuffle=False, device="cpu", **kw))
    return torch.cat(xs), torch.cat(ys)


def pid_index(fx, split: str) -> dict[str, int]:
    return {pid: i for i, pid in enumerate(fx.splits[split])}


# ---- 1. the record format ----------------------------------------------------------------------


def test_v2_records_have_the_rico_hdl_layout_and_the_geotiff_values(v2) -> None:
    root, fx, pack, result = v2
    records = read_records(pack)
    assert result.written == N_V2 and result.existing == 0 and result.skipped == []
    assert set(records) == {pid.encode("utf-8") for pid in fx.labels}
    expected_keys = {f"B{i:02d}" for i in range(1, 13) if i != 10} | {"B8A"}
    sides = {"B01": 20, "B09": 20, "B02": 120, "B03": 120, "B04": 120, "B08": 120}
    sides.update(dict.fromkeys(("B05", "B06", "B07", "B8A", "B11", "B12"), 60))
    for pid in (fx.splits["train"][0], fx.splits["test"][-1]):
        arrays = safetensors.numpy.load(records[pid.encode()])
        assert set(arrays) == expected_keys
        for band, arr in arrays.items():
            assert arr.dtype == np.uint16 and arr.shape == (sides[band], sides[band]), band
            assert np.array_equal(arr, read_geotiff(v2_band_file(root, pid, band))[0]), band


def test_eurosat_records_name_b8a_b08a_and_hold_the_file_bands(archives) -> None:
    root, fx, pack, _ = archives["eurosat"]
    records = read_records(pack)
    assert len(records) == 10 * PER_CLASS and b"Forest_2" in records and b"SeaLake_1" in records
    arrays = safetensors.numpy.load(records[b"Forest_2"])
    assert set(arrays) == {f"B{i:02d}" for i in range(1, 13)} | {"B08A"}
    assert {a.shape for a in arrays.values()} == {(64, 64)} and {a.dtype for a in arrays.values()} == {
        np.dtype(np.uint16)
    }
    image = read_geotiff(root / "Forest" / "Forest_2.tif")  # 13 bands, B8A stored last
    assert np.array_equal(arrays["B08A"], image[12]) and np.array_equal(arrays["B09"], image[8])
    for i, band in enumerate(EUROSAT_FILE_BANDS):
        assert np.array_equal(arrays["B08A" if band == "B8A" else band], image[i]), band


# ---- 2. RecordLayout against safetensors -------------------------------------------------------


def _mixed_record(metadata: dict | None = None) -> bytes:
    rng = np.random.default_rng(0)
    arrays = {
        "a16": rng.integers(0, 65535, (7, 5), dtype=np.uint16),
        "f32": rng.standard_normal((3, 4, 2)).astype(np.float32),
        "B02": rng.integers(0, 9, (6, 6), dtype=np.uint16),
    }
    return safetensors.numpy.save(arrays, metadata=metadata)


@pytest.mark.parametrize("metadata", [None, {"producer": "rico-hdl", "note": "x" * 37}])
def test_record_layout_equals_safetensors_load(metadata) -> None:
    record = _mixed_record(metadata)
    expected = safetensors.numpy.load(record)
    layout = RecordLayout()
    for _ in range(2):  # the second call reuses the cached header
        got = layout.arrays(record)
        assert got.keys() == expected.keys()
        for k in expected:
            assert got[k].dtype == expected[k].dtype and got[k].shape == expected[k].shape, k
            assert np.array_equal(got[k], expected[k]), k
    assert list(layout.arrays(memoryview(record), ["f32"])) == ["f32"]


def test_record_layout_rejects_truncated_garbage_and_oversized_records() -> None:
    record = _mixed_record()
    layout = RecordLayout()
    layout.arrays(record)
    with pytest.raises(RecordError, match=f"record has {len(record) - 3:,} bytes but its header describes"):
        layout.arrays(record[:-3])
    with pytest.raises(RecordError, match=f"record has {len(record) - 3:,} bytes"):
        RecordLayout().arrays(record[:-3])  # a fresh layout finds it too
    (n,) = struct.unpack_from("<Q", record)
    garbage = record[:8] + b"\xff" * n + record[8 + n :]
    with pytest.raises(RecordError, match="header is not JSON"):
        RecordLayout().arrays(garbage)
    oversized = struct.pack("<Q", len(record)) + record[8:]
    with pytest.raises(RecordError, match=f"header length {len(record):,} does not fit a record of"):
        RecordLayout().arrays(oversized)
    with pytest.raises(RecordError, match="record of 5 bytes is shorter than a safetensors header"):
        RecordLayout().arrays(record[:5])


# ---- 3. bit-identical to the GeoTIFFs ----------------------------------------------------------


@pytest.mark.parametrize("bands", [None, SUBSET], ids=["all", "subset"])
@pytest.mark.parametrize("kind", ["v2", "v2_stacked", "v1", "eurosat"])
def test_pack_in_memory_equals_geotiffs(archives, kind, bands) -> None:
    root, _, pack, _ = archives[kind]
    tif = tif_data(archives, kind, bands)
    pk = load_dataset(cfg(kind, root, pack, bands=bands))
    assert pk.bands == tif.bands and pk.mean == tif.mean and pk.classes == tif.classes
    assert pk.skipped == [] and tif.skipped == []
    for key in SPLITS:
        a, b = split_of(tif, key), split_of(pk, key)
        if kind == "eurosat" and key == "val":
            assert a is None and b is None
            continue
        assert isinstance(b, TensorSplit) and b.x.dtype == torch.uint16
        assert b.x.shape[1] == (3 if bands else len(tif.bands))
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y), key


@pytest.mark.parametrize("kind", ["v2", "v2_stacked", "v1", "eurosat"])
def test_pack_streaming_equals_geotiff_streaming(archives, kind) -> None:
    root, _, pack, _ = archives[kind]
    tif = load_dataset(cfg(kind, root, in_memory=False, bands=SUBSET))
    pk = load_dataset(cfg(kind, root, pack, in_memory=False, bands=SUBSET))
    x_tif, y_tif = streamed(tif.train)
    x_pk, y_pk = streamed(pk.train)
    assert x_tif.dtype == torch.uint16 and x_pk.dtype == torch.float32
    assert x_pk.shape == (len(tif.train), 3, *x_tif.shape[2:])
    assert torch.equal(x_pk, x_tif.float()) and torch.equal(y_pk, y_tif)
    x_test, y_test = streamed(pk.test)
    assert torch.equal(x_test, tif_data(archives, kind, SUBSET).test.x.float())
    assert torch.equal(y_test, tif_data(archives, kind, SUBSET).test.y)


def test_pack_streaming_with_workers_equals_geotiffs(archives) -> None:
    root, _, pack, _ = archives["v2"]
    pk = load_dataset(cfg("v2", root, pack, in_memory=False))
    x, y = streamed(pk.train, num_workers=2)
    mem = tif_data(archives, "v2")
    assert (
        x.shape == (12, 12, 120, 120) and torch.equal(x, mem.train.x.float()) and torch.equal(y, mem.train.y)
    )


# ---- 4. resume after a crash -------------------------------------------------------------------


def test_resume_after_a_crash_writes_only_the_rest(v2, tmp_path, monkeypatch) -> None:
    root, fx, _, _ = v2
    out = tmp_path / "pack"
    real_put = store.put_records
    calls = []

    def crash_after_first(env, records):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("simulated crash")
        return real_put(env, records)

    monkeypatch.setattr(build, "CHUNK", 4)
    monkeypatch.setattr(store, "put_records", crash_after_first)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pack_archive("bigearthnet_v2", root, out, fraction=0.5, seed=0, progress=False)
    assert count_records(out) == 4 and store.read_info(out)["complete"] is False
    monkeypatch.setattr(store, "put_records", real_put)

    result = pack_archive("bigearthnet_v2", root, out, fraction=0.5, seed=0, progress=False)
    assert (result.selected, result.existing, result.written) == (12, 4, 8)
    expected = [fx.splits[s][i] for s, i in _selected(root, 0.5, 0, fx)]
    assert sorted(read_records(out)) == sorted(pid.encode() for pid in expected)
    assert store.read_info(out)["complete"] is True and store.read_info(out)["patches"] == 12

    pk = load_dataset(cfg("v2", root, out))
    ids = load_dataset(cfg("v2", root, out, in_memory=False))
    full = load_dataset(cfg("v2", root))
    for key in SPLITS:
        index = pid_index(fx, key)
        rows = torch.tensor([index[pid] for pid in split_of(ids, key).sources])
        assert torch.equal(split_of(pk, key).x, split_of(full, key).x[rows]), key
        assert torch.equal(split_of(pk, key).y, split_of(full, key).y[rows]), key

    with pytest.raises(ValueError, match=r"was started with other options \(fraction 0.5 -> 0.25\)"):
        pack_archive("bigearthnet_v2", root, out, fraction=0.25, seed=0, progress=False)


def _selected(root: Path, fraction: float, seed: int, fx) -> list[tuple[str, int]]:
    """(split, index in the fixture's split) of the rows ``select_rows`` picks."""
    table = pq.read_table(root / "metadata.parquet")
    where = {pid: (s, i) for s in fx.splits for i, pid in enumerate(fx.splits[s])}
    ids = table["patch_id"].to_pylist()
    return [where[ids[r]] for r in select_rows(table, fraction=fraction, seed=seed)]


# ---- 5. a real kill ----------------------------------------------------------------------------

# The CLI's own entry point, with chunks of 4 patches and a pause before each commit, so the kill
# lands while the run is part-way through (the code path is `python -m archlab data pack`'s).
KILLABLE = (
    "import sys, time; from archlab.data.pack import build, store; build.CHUNK = 4; put = store.put_records; "
    "store.put_records = lambda env, recs: (time.sleep(0.25), put(env, recs))[1]; "
    "from archlab.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.slow
def test_sigkill_mid_pack_then_rerun_completes(v2, tmp_path, archlab_subprocess, run_cli) -> None:
    root, fx, _, _ = v2
    out = tmp_path / "pack"
    argv = ["data", "pack", "bigearthnet_v2", "--root", str(root), "--out", str(out), "--no-progress"]
    cmd, env = archlab_subprocess(*argv)
    proc = subprocess.Popen([cmd[0], "-c", KILLABLE, *argv], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        held = 0
        while held == 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            if (out / store.DATA_FILE).is_file():
                try:
                    held = count_records(out)
                except lmdb.Error:
                    held = 0
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the pack finished before it could be killed"
    held = count_records(out)
    assert 0 < held < N_V2 and held % 4 == 0  # whole transactions only
    assert store.read_info(out)["complete"] is False

    res = run_cli(*argv)
    assert res.rc == 0, res.err
    assert f"{N_V2} of {N_V2} selected patches ({N_V2 - held} written now" in res.out
    assert f"{held} already there" in res.out
    records = read_records(out)
    assert sorted(records) == sorted(pid.encode() for pid in fx.labels)
    for pid in fx.labels:
        arrays = RecordLayout().arrays(records[pid.encode()])
        source = v2_source(root, pid)
        assert arrays.keys() == source.keys() and all(np.array_equal(arrays[b], source[b]) for b in source)


# ---- 6. --verify -------------------------------------------------------------------------------


def test_verify_rewrites_a_differing_and_a_corrupt_record(v2, tmp_path) -> None:
    root, fx, pack, _ = v2
    pack = copy_pack(pack, tmp_path / "pack")
    changed, corrupt = fx.splits["train"][3], fx.splits["test"][1]
    arrays = safetensors.numpy.load(read_records(pack)[changed.encode()])
    arrays["B02"] = arrays["B02"] + 1
    put_record(pack, changed, encode(arrays))

    result = pack_archive("bigearthnet_v2", root, pack, verify=True, progress=False)
    assert (result.verified, result.rewritten, result.written, result.existing) == (N_V2, 1, 0, N_V2)
    assert "verified 24 records against their sources; 1 rewritten" in result.summary()
    fixed = safetensors.numpy.load(read_records(pack)[changed.encode()])
    assert np.array_equal(fixed["B02"], read_geotiff(v2_band_file(root, changed, "B02"))[0])

    put_record(pack, corrupt, b"\x00garbage" * 9)
    result = pack_archive("bigearthnet_v2", root, pack, verify=True, progress=False)
    assert (result.verified, result.rewritten) == (N_V2, 1)
    arrays = safetensors.numpy.load(read_records(pack)[corrupt.encode()])
    source = v2_source(root, corrupt)
    assert all(np.array_equal(arrays[b], source[b]) for b in S2_BANDS)
    assert pack_archive("bigearthnet_v2", root, pack, verify=True, progress=False).rewritten == 0


# ---- 7. bad records read through load_dataset --------------------------------------------------


def _damage(kind: str, pack: Path, pid: str) -> str:
    """Damage record ``pid`` of ``pack``; the fragment the error must carry."""
    record = read_records(pack)[pid.encode()]
    if kind == "corrupt":
        put_record(pack, pid, b"garbage!" * 10)
        return "corrupt record: header length"
    if kind == "truncated":
        put_record(pack, pid, record[:-100])
        return f"corrupt record: record has {len(record) - 100:,} bytes"
    if kind == "missing":
        put_record(pack, pid, None)
        return "patch not in the pack"
    arrays = safetensors.numpy.load(record)
    arrays["B05"] = np.ascontiguousarray(arrays["B05"][:59, :59])
    put_record(pack, pid, encode(arrays))
    return "band B05 is uint16 59x59, expected uint16 60x60"


BAD = ["corrupt", "truncated", "missing", "wrong_shape"]


@pytest.mark.parametrize("bad", BAD)
def test_bad_record_is_a_one_line_error(v2, tmp_path, bad) -> None:
    root, fx, pack, _ = v2
    pack = copy_pack(pack, tmp_path / "pack")
    pid = fx.splits["train"][1]
    fragment = _damage(bad, pack, pid)
    error = FileNotFoundError if bad == "missing" else PackRecordError
    with pytest.raises(error) as info:
        load_dataset(cfg("v2", root, pack))
    text = str(info.value)
    assert text.startswith(f"{pack} [{pid}]: ") and fragment in text and "\n" not in text
    if bad == "missing":
        assert "(and" not in text
        return
    stream = load_dataset(cfg("v2", root, pack, in_memory=False))  # streaming reads lazily
    with pytest.raises(PackRecordError, match=f"{pid}\\]: {fragment}"):
        streamed(stream.train)


def test_several_missing_records_are_counted(v2, tmp_path) -> None:
    root, fx, pack, _ = v2
    pack = copy_pack(pack, tmp_path / "pack")
    gone = [fx.splits["train"][1], fx.splits["train"][2], fx.splits["test"][0]]
    for pid in gone:
        put_record(pack, pid, None)
    with pytest.raises(
        FileNotFoundError, match=rf"\[{gone[0]}\]: patch not in the pack \(and 2 more such rows of 24\)"
    ):
        load_dataset(cfg("v2", root, pack))


@pytest.mark.parametrize("in_memory", [True, False], ids=["memory", "stream"])
@pytest.mark.parametrize("bad", BAD)
def test_bad_record_is_skipped_and_counted(archives, tmp_path, bad, in_memory) -> None:
    root, fx, pack, _ = archives["v2"]
    pack = copy_pack(pack, tmp_path / "pack")
    pid = fx.splits["train"][1]
    fragment = _damage(bad, pack, pid)
    ds = load_dataset(cfg("v2", root, pack, in_memory=in_memory, on_error="skip"))
    assert (
        len(ds.skipped) == 1 and ds.skipped[0].startswith(f"{pack} [{pid}]: ") and fragment in ds.skipped[0]
    )
    assert (len(ds.train), len(ds.val), len(ds.test)) == (11, 6, 6)
    tif = tif_data(archives, "v2")
    keep = torch.tensor([0] + list(range(2, 12)))
    if in_memory:
        assert torch.equal(ds.train.x, tif.train.x[keep]) and torch.equal(ds.train.y, tif.train.y[keep])
        return
    assert pid not in ds.train.sources + ds.val.sources + ds.test.sources
    x, y = streamed(ds.train)
    assert torch.equal(x, tif.train.x[keep].float()) and torch.equal(y, tif.train.y[keep])


@pytest.mark.parametrize("in_memory", [True, False], ids=["memory", "stream"])
def test_corrupt_first_record_is_skipped_too(archives, tmp_path, in_memory) -> None:
    """The first listed patch is the one whose record is probed for the layout: skip must cover it too."""
    root, fx, pack, _ = archives["v2"]
    pack = copy_pack(pack, tmp_path / "pack")
    pid = fx.splits["train"][0]
    _damage("corrupt", pack, pid)
    ds = load_dataset(cfg("v2", root, pack, in_memory=in_memory, on_error="skip"))
    assert len(ds.skipped) == 1 and f"[{pid}]: corrupt record" in ds.skipped[0]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (11, 6, 6)


def test_pack_without_the_requested_band_names_what_it_holds(v2, tmp_path) -> None:
    root, fx, pack, _ = v2
    partial = tmp_path / "rgb"
    env = store.open_env(partial, write=True)
    records = read_records(pack)
    rgb = []
    for key, value in records.items():
        arrays = safetensors.numpy.load(value)
        rgb.append((key, encode({b: arrays[b] for b in ("B02", "B03", "B04")})))
    assert store.put_records(env, rgb) == N_V2
    env.close()
    shutil.copy(store.metadata_path(pack), store.metadata_path(partial))
    with pytest.raises(ValueError, match=r"holds bands B02, B03, B04 but data.bands asks for B05;"):
        load_dataset(cfg("v2", root, partial, bands=["B05"]))
    ds = load_dataset(cfg("v2", root, partial, bands=["B04", "B02"]))
    tif = load_dataset(cfg("v2", root, bands=["B04", "B02"]))
    assert ds.train.x.shape == (12, 2, 120, 120) and torch.equal(ds.train.x, tif.train.x)


# ---- 8. subsets --------------------------------------------------------------------------------


def test_select_rows_fraction_seed_splits_and_countries(v2) -> None:
    root = v2[0]
    table = pq.read_table(root / "metadata.parquet")
    half = select_rows(table, fraction=0.5, seed=0)
    assert len(half) == 12 and abs(len(half) - 12) <= 1
    assert np.array_equal(half, select_rows(table, fraction=0.5, seed=0))
    assert np.all(np.diff(half) > 0)  # table order
    other = select_rows(table, fraction=0.5, seed=2)
    assert len(other) == 12 and not np.array_equal(half, other)
    train = select_rows(table, splits=["train"])
    assert train.tolist() == list(range(12))
    assert set(table["split"].take(train).to_pylist()) == {"train"}
    assert select_rows(table, countries=["Austria"]).tolist() == list(range(N_V2))
    with pytest.raises(ValueError, match="--countries: Narnia not in the metadata; it has Austria"):
        select_rows(table, countries=["Narnia"])
    with pytest.raises(ValueError, match="--fraction must be in"):
        select_rows(table, fraction=0.0)


def test_pack_writes_metadata_of_exactly_the_packed_rows(v2, tmp_path) -> None:
    root = v2[0]
    table = pq.read_table(root / "metadata.parquet")
    out = tmp_path / "half"
    result = pack_archive("bigearthnet_v2", root, out, fraction=0.5, seed=2, progress=False)
    picked = table.take(select_rows(table, fraction=0.5, seed=2))
    meta = pq.read_table(store.metadata_path(out))
    assert result.written == 12 and meta.num_rows == 12
    assert meta["patch_id"].to_pylist() == picked["patch_id"].to_pylist()
    assert meta["labels"].to_pylist() == picked["labels"].to_pylist()
    assert sorted(read_records(out)) == sorted(p.encode() for p in picked["patch_id"].to_pylist())
    info = json.loads((out / store.INFO_FILE).read_text())
    assert (
        info["complete"] is True and info["patches"] == 12 and info["fraction"] == 0.5 and info["seed"] == 2
    )
    assert info["bands"] == sorted(S2_BANDS) and info["format"] == "rico-hdl lmdb+safetensors"

    train = pack_archive("bigearthnet_v2", root, tmp_path / "train", splits=["train"], progress=False)
    meta = pq.read_table(store.metadata_path(tmp_path / "train"))
    assert train.selected == 12 and set(meta["split"].to_pylist()) == {"train"}
    assert store.read_info(tmp_path / "train")["splits"] == ["train"]


# ---- 9. packs from rico-hdl (no metadata) ------------------------------------------------------


def test_eurosat_pack_without_metadata_labels_from_keys(archives, tmp_path) -> None:
    root, _, pack, _ = archives["eurosat"]
    bare = as_rico_pack(copy_pack(pack, tmp_path / "bare"))
    ds = load_dataset(cfg("eurosat", root, bare))
    tif = tif_data(archives, "eurosat")
    assert (len(ds.train), len(ds.test)) == (10, 10) and ds.skipped == []
    stream = load_dataset(cfg("eurosat", root, bare, in_memory=False))
    pairs = [(s, int(t)) for key in ("train", "test") for s, t in zip(split_of(stream, key).sources,
                                                                        split_of(stream, key).targets)]  # fmt: skip
    assert sorted(pairs) == sorted((f"{c}_{n}", k) for k, c in enumerate(EUROSAT_CLASSES) for n in (1, 2))
    for key in ("train", "test"):
        assert torch.equal(split_of(ds, key).x, split_of(tif, key).x), key
        assert torch.equal(split_of(ds, key).y, split_of(tif, key).y), key


def test_eurosat_pack_without_metadata_splits_as_the_geotiffs_with_ten_per_class(tmp_path) -> None:
    """Keys sort as bytes (AnnualCrop_10 before AnnualCrop_2); the carve must still match the GeoTIFFs'."""
    root = tmp_path / "es"
    write_eurosat_ms(root, 10, seed=4)
    pack = tmp_path / "pack"
    pack_archive("eurosat_ms", root, pack, progress=False)
    as_rico_pack(pack)
    tif = load_dataset(cfg("eurosat", root, in_memory=False))
    pk = load_dataset(cfg("eurosat", root, pack, in_memory=False))
    for key in ("train", "test"):
        assert {Path(s).stem for s in split_of(tif, key).sources} == set(split_of(pk, key).sources), key
        assert [Path(s).stem for s in split_of(tif, key).sources] == split_of(pk, key).sources, key


def test_bigearthnet_pack_without_metadata_uses_the_archive_metadata(archives, tmp_path) -> None:
    root, _, pack, _ = archives["v2"]
    bare = as_rico_pack(copy_pack(pack, tmp_path / "bare"))
    ds = load_dataset(cfg("v2", root, bare))
    tif = tif_data(archives, "v2")
    for key in SPLITS:
        assert torch.equal(split_of(ds, key).x, split_of(tif, key).x), key
        assert torch.equal(split_of(ds, key).y, split_of(tif, key).y), key
    empty = tmp_path / "no_archive"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="a pack from rico-hdl has no metadata: set data.root"):
        load_dataset(cfg("v2", empty, bare))


# ---- 10. the CLI -------------------------------------------------------------------------------


def test_cli_pack_prints_the_summary(v2, tmp_path, run_cli) -> None:
    root = v2[0]
    out = tmp_path / "cli"
    res = run_cli("data", "pack", "bigearthnet_v2", "--root", str(root), "--out", str(out), "--fraction",
                  "0.25", "--seed", "1", "--no-progress")  # fmt: skip
    assert res.rc == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].startswith(f"pack {out}: 6 of 6 selected patches (6 written now at ")
    assert lines[0].endswith(", 0 already there)") and lines[1].startswith("size on disk ")
    assert len(read_records(out)) == 6
    again = run_cli("data", "pack", "bigearthnet_v2", "--root", str(root), "--out", str(out), "--fraction",
                    "0.25", "--seed", "1", "--no-progress")  # fmt: skip
    assert again.rc == 0 and "6 of 6 selected patches (0 written now" in again.out
    assert "6 already there)" in again.out


def test_cli_pack_errors_exit_2(v2, tmp_path, run_cli) -> None:
    missing = tmp_path / "nowhere"
    res = run_cli("data", "pack", "bigearthnet_v2", "--root", str(missing), "--out", str(tmp_path / "p"))
    assert res.rc == 2 and res.out == ""
    assert res.err.startswith(f"archlab: error: archive folder {str(missing)!r} not found")
    res = run_cli("data", "pack", "bigearthnet_v2", "--root", str(v2[0]), "--out", str(tmp_path / "p"),
                  "--splits", "dev", "--no-progress")  # fmt: skip
    assert res.rc == 2 and "archlab: error: --splits: dev not in the metadata" in res.err


def test_v1_pack_source_is_the_patch_folders(archives) -> None:
    root, fx, pack, result = archives["v1"]
    assert result.written == N_SMALL and result.skipped == []
    pid = fx.splits["val"][0]
    arrays = safetensors.numpy.load(read_records(pack)[pid.encode()])
    for band in S2_BANDS:
        raw = read_geotiff(root / V1_ARCHIVE_DIR / pid / f"{pid}_{band}.tif")[0]
        assert arrays[band].shape == (native_size(band),) * 2 and np.array_equal(arrays[band], raw), band
