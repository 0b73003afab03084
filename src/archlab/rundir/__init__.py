"""The run directory: one module names, writes and reads every file of a run.

* :class:`RunDir` — the writer (and strict reader) the engine uses;
* :func:`load_run` / :class:`Run` — a run read back tolerantly (reports, compare, search);
* :func:`restore` / :class:`Restored` — its model rebuilt for inference (predict, export, explain).
"""

from archlab._files import DiskFull, atomic_write_bytes, atomic_write_text
from archlab.rundir.layout import RunDir, flat_row, load_checkpoint, save_checkpoint
from archlab.rundir.restore import Restored, checkpoint_path, restore, strip_wrapper_prefixes
from archlab.rundir.run import Run, load_run

__all__ = [
    "DiskFull",
    "Restored",
    "Run",
    "RunDir",
    "atomic_write_bytes",
    "atomic_write_text",
    "checkpoint_path",
    "flat_row",
    "load_checkpoint",
    "load_run",
    "restore",
    "save_checkpoint",
    "strip_wrapper_prefixes",
]
