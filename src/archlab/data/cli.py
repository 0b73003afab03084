"""``archlab data``: commands on datasets (``pack``: an archive into a pack)."""

from __future__ import annotations

import argparse


def _names(text: str | None) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def _cmd_pack(args: argparse.Namespace) -> int:
    from archlab.data.pack.build import pack_archive

    result = pack_archive(
        args.dataset,
        args.root,
        args.out,
        workers=args.workers,
        fraction=args.fraction,
        seed=args.seed,
        splits=_names(args.splits),
        countries=_names(args.countries),
        verify=args.verify,
        progress=args.progress,
    )
    for line in result.summary():
        print(line)
    return 0


def add_data_parser(sub) -> None:
    """``archlab data pack DATASET --root ARCHIVE --out PACK [...]``."""
    p = sub.add_parser("data", help="dataset tools: pack an archive into an LMDB pack for fast reading")
    data_sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_sub.required = True
    p = data_sub.add_parser(
        "pack",
        help="convert a GeoTIFF archive (BigEarthNet v1/v2, EuroSAT MS) into an LMDB pack",
        description="Write every patch of an archive (or a subset) once into an LMDB database of "
        "safetensors records, the format of BigEarthNet's encoder rico-hdl. Train from it with "
        "--set data.pack=OUT. Run the same command again to resume after a kill.",
    )
    p.add_argument("dataset", choices=("bigearthnet_v2", "bigearthnet", "eurosat_ms"))
    p.add_argument(
        "--root", required=True, help="the archive's folder (reBEN: the one with metadata.parquet)"
    )
    p.add_argument("--out", required=True, help="the pack folder to write (or resume)")
    p.add_argument(
        "--workers", type=int, default=1, metavar="N", help="processes reading GeoTIFFs (default 1)"
    )
    p.add_argument(
        "--fraction", type=float, default=1.0, metavar="F", help="stratified sample of this fraction"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the --fraction draw (default 0)")
    p.add_argument("--splits", metavar="A,B", help="only these splits (reBEN: train,validation,test)")
    p.add_argument("--countries", metavar="A,B", help="only these countries (reBEN's country column)")
    p.add_argument("--verify", action="store_true", help="read every record back against its source")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=_cmd_pack)
