"""The report, compare and explain subcommands: parsed by add_report_parsers, run through their func."""

from __future__ import annotations

import argparse
import csv
import io

import numpy as np
import pytest

from archlab.report.cli import add_report_parsers


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="archlab")
    add_report_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_report_subcommand_writes_both_files(make_run, capsys):
    run_dir = make_run()
    assert run(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.split() == [
        "wrote",
        str(run_dir / "report.md"),
        "wrote",
        str(run_dir / "report.html"),
    ]


def test_compare_subcommand_prints_csv(make_run, capsys):
    a, b = make_run("a"), make_run("b", width=16)
    assert run(["compare", str(a), str(b), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["params"]) for r in rows] == [65_444, 16_596]


def test_explain_subcommand_defaults_to_run_dir_explain(make_run, tmp_path, capsys):
    pytest.importorskip("pytorch_grad_cam")
    from PIL import Image

    run_dir = make_run()
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8)).save(tmp_path / "x.png")
    assert (
        run(
            [
                "explain",
                str(run_dir),
                "--images",
                str(tmp_path / "x.png"),
                "--method",
                "eigencam",
                "--target",
                "1",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == f"wrote {run_dir / 'explain' / 'x_eigencam_one.png'}"


def test_bad_choices_are_usage_errors(make_run):
    with pytest.raises(SystemExit):
        run(["compare", "x", "--format", "pdf"])
    with pytest.raises(SystemExit):
        run(["explain", "x", "--images", "a.png", "--method", "magic"])
    with pytest.raises(SystemExit):
        run(["explain", "x"])  # --images is required
