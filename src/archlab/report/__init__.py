"""Run reports (markdown + self-contained HTML), run comparisons and visual explanations.

``write_run_report(run_dir)`` writes ``report.md`` and ``report.html`` into a run directory;
``compare_runs(run_dirs, fmt)`` sets runs side by side; ``explain(run_dir, images, out_dir)``
writes Grad-CAM / attention overlays for a trained model. The submodules are imported on
first use, so ``import archlab.report`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare_runs", "explain", "write_run_report"]

_HOMES = {
    "compare_runs": "archlab.report.compare",
    "explain": "archlab.report.explainer",
    "write_run_report": "archlab.report.run_report",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'archlab.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
