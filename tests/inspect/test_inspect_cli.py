"""``archlab summary`` and ``archlab diff`` through the main CLI."""

from __future__ import annotations

import json


def test_summary_json(run_cli):
    r = run_cli("summary", "mnist_net3", "--format", "json", "--depth", "1")
    assert r.rc == 0, r.err
    d = json.loads(r.out)
    assert d["totals"]["params"] == 7_902 and d["totals"]["macs"] == 1_227_392
    assert d["input"]["size"] == [1, 28, 28] and "torch_version" in d


def test_summary_styles_print_the_tools_figures(run_cli):
    r = run_cli("summary", "mnist_net3", "--style", "torchsummary", "--depth", "1")
    assert r.rc == 0, r.err
    assert "Forward/backward pass size (MB): 0.62" in r.out and "GlobalAvgSigmoidGate-29" in r.out
    r = run_cli("summary", "mnist_net3", "--style", "torchinfo", "--format", "markdown", "--depth", "1")
    assert r.rc == 0, r.err
    assert "| Total params | 7,902 | 7,902 |" in r.out
    assert "| Forward/backward pass size (MB) | 0.35 |" in r.out  # torchinfo: 2 × 174,280 B


def test_summary_of_a_config(run_cli, configs_dir):
    config = configs_dir / "mnist" / "net3.yaml"
    r = run_cli("summary", str(config), "--format", "json", "--depth", "1")
    assert r.rc == 0, r.err
    assert json.loads(r.out)["totals"]["params"] == 7_902


def test_user_errors_are_one_line(run_cli):
    r = run_cli("summary", "mnist_net33")
    assert r.rc == 2 and "mnist_net3" in r.err and len(r.err.strip().splitlines()) == 1
    r = run_cli("summary", "mnist_net3", "--input-size", "1", "28")
    assert r.rc == 2 and "--input-size" in r.err and len(r.err.strip().splitlines()) == 1
    r = run_cli("summary", "mnist_net3", "--input-size", "3", "28", "28")
    assert r.rc == 2 and "fails on an input of shape [1, 3, 28, 28]" in r.err


def test_diff_markdown(run_cli):
    r = run_cli("diff", "mnist_net2", "mnist_net3", "--depth", "1")
    assert r.rc == 0, r.err
    assert "| Parameters | 5,048 | 7,902 | +2,854 | 1.565× |" in r.out
