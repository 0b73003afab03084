"""Shared fixtures: the repository paths, an isolated working directory for runs, and a CLI runner."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"
SHARED = REPO_ROOT.parent / "shared"
SHARED_DATASETS = SHARED / "datasets"
SEED_001 = SHARED / "seeds" / "001_0459dda206086c17.txt"


@dataclass
class CliResult:
    """Exit code and captured output of one ``archlab`` invocation."""

    rc: int
    out: str
    err: str


@pytest.fixture
def run_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run from ``tmp_path`` (so ``run.out_dir=runs`` and ``data.root=data`` land there).

    Also restores torch's process-wide state a training run may change: the CPU
    thread count, deterministic mode and the global RNG.
    """
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    rng = torch.get_rng_state()
    yield tmp_path
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.set_rng_state(rng)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture) -> Callable[..., CliResult]:
    """Call ``archlab.cli.main([...])`` in-process; return its exit code, stdout and stderr."""

    def run(*argv: str) -> CliResult:
        from archlab.cli import main

        capsys.readouterr()  # drop anything printed before this call
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(int(rc), captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """``../shared/datasets`` relative to the repository root, holding ``MNIST/raw`` in torchvision's layout."""
    raw = SHARED_DATASETS / "MNIST" / "raw"
    needed = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    missing = [n for n in needed if not (raw / n).is_file() and not (raw / f"{n}.gz").is_file()]
    if missing:
        pytest.skip(
            f"MNIST files not found under {raw} (missing {', '.join(missing)}); "
            "the shared checkout ../shared/datasets is absent here"
        )
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def configs_dir() -> Path:
    return CONFIGS


@pytest.fixture(scope="session")
def seed_001() -> Path:
    """Seed 001's document (torchsummary tables and results of the MNIST models)."""
    if not SEED_001.is_file():
        pytest.skip(f"seed document {SEED_001} not found (the shared checkout ../shared is absent here)")
    return SEED_001


@pytest.fixture
def archlab_subprocess() -> Callable[..., list[str]]:
    """``(argv, env)`` to launch ``python -m archlab ...`` on the source tree in a subprocess."""
    import os

    def command(*argv: str) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        src = str(REPO_ROOT / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        return [sys.executable, "-m", "archlab", *argv], env

    return command
