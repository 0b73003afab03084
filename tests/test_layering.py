"""The data path runs one way: no low package imports a higher one, and no source file is two rooms."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "archlab"

# package -> packages it must never import (directly or lazily, inside a function)
FORBIDDEN = {
    "blocks": ("models", "inspect", "data", "train", "report", "bench", "rundir"),
    "models": ("inspect", "data", "train", "report", "bench", "rundir"),
    "data": ("train", "report", "bench", "rundir", "inspect"),
    "inspect": ("train", "report", "bench", "rundir"),
    "rundir": ("train", "report", "bench", "inspect"),
    "train": ("report", "bench", "search"),
    "report": ("search", "bench"),
}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_import(package: str) -> None:
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "archlab" and len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    assert bad == []


def test_no_source_file_over_400_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}
