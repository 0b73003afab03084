"""Fixtures of the report tests: run directories written in a blink (see report_fixtures)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import write_run


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """``make_run(name, **write_run_kwargs)`` -> a run directory under ``tmp_path``."""

    def make(name: str = "run", **kw: Any) -> Path:
        return write_run(tmp_path / name, **kw)

    return make
