"""The search directory: the one module that names and writes the files of a search.

::

    SEARCH_DIR/
      search.yaml     the search file as resolved (base config inlined), the storage URL: --resume reads it
      study.db        the Optuna study (SQLite), unless --storage names another storage
      trials/         one ordinary run directory per trained trial: trial-0003/ ...
      results.json    trial counts, the best trials and their one test evaluation
      best.yaml       the best trial's config: `archlab train --config best.yaml` reproduces it
      architecture.yaml  a copy of the architecture file best.yaml names, where it names one
      report.md       + report/ (PNGs) and report.html, self-contained
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from archlab._files import unique_dir
from archlab.rundir import atomic_write_text

SEARCH = "search.yaml"
STUDY_DB = "study.db"
TRIALS = "trials"
RESULTS = "results.json"
BEST = "best.yaml"
ARCHITECTURE = "architecture.yaml"
REPORT_MD = "report.md"
REPORT_IMAGES = "report"
STUDY_NAME = "archlab"


class SearchDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, out_dir: str | Path, name: str) -> SearchDir:
        return cls(unique_dir(out_dir, name or f"search-{time.strftime('%Y%m%d-%H%M%S')}"))

    @classmethod
    def for_resume(cls, path: str | Path) -> SearchDir:
        sd = cls(path)
        if not (sd.path / SEARCH).is_file():
            raise FileNotFoundError(
                f"{str(sd.path)!r} is not a search directory (no {SEARCH}); pass the folder a search wrote"
            )
        return sd

    @property
    def default_storage(self) -> str:
        return f"sqlite:///{(self.path / STUDY_DB).resolve()}"

    @property
    def trials_dir(self) -> Path:
        return self.path / TRIALS

    def trial_name(self, number: int) -> str:
        return f"trial-{number:04d}"

    @property
    def report_md(self) -> Path:
        return self.path / REPORT_MD

    def write_search(self, data: dict[str, Any]) -> None:
        atomic_write_text(self.path / SEARCH, yaml.safe_dump(data, sort_keys=False))

    def read_search(self) -> dict[str, Any]:
        data = yaml.safe_load((self.path / SEARCH).read_text())
        return data if isinstance(data, dict) else {}

    def write_results(self, data: dict[str, Any]) -> None:
        atomic_write_text(self.path / RESULTS, json.dumps(data, indent=2) + "\n")

    def read_results(self) -> dict[str, Any]:
        path = self.path / RESULTS
        return json.loads(path.read_text()) if path.is_file() else {}

    def write_best(self, config: dict[str, Any], header: str) -> Path:
        """An architecture file the config names is copied beside it, so the folder stands alone."""
        name = config.get("model", {}).get("name")
        if isinstance(name, str) and name.endswith((".yaml", ".yml")) and Path(name).is_file():
            atomic_write_text(self.path / ARCHITECTURE, Path(name).read_text())
            config = {**config, "model": {**config["model"], "name": ARCHITECTURE}}
        text = "".join(f"# {line}\n" for line in header.splitlines()) + yaml.safe_dump(
            config, sort_keys=False
        )
        atomic_write_text(self.path / BEST, text)
        return self.path / BEST

    def write_report(self, doc: Any) -> tuple[Path, Path]:
        return doc.write(self.report_md, REPORT_IMAGES)
