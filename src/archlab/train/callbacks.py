"""Epoch callbacks: the one place where users and other parts of archlab plug into a run.

The contract is three optional methods; a callback implements those it needs::

    class Callback:
        def on_train_start(self, run: RunState) -> None: ...
        def on_epoch_end(self, run: RunState, record: dict) -> bool | None: ...  # True stops the run
        def on_train_end(self, run: RunState, results: dict) -> None: ...

``on_epoch_end`` is called after every epoch, once its record is complete and
``last.pt``/``metrics.jsonl`` are on disk, so a run stopped there resumes cleanly with
``archlab train --resume``. A callback that stops the run may set ``reason`` (printed).
Callbacks run in the main process only (rank 0 under torchrun); a stop reaches every rank.

Built in: :class:`EarlyStopping` (``train.early_stopping``) and :class:`TensorBoard`
(``run.tensorboard``). Other packages add defaults with :func:`register_default`; the
run report (``run.report``) is one, registered by :mod:`archlab.report.callback`, so the
engine itself never imports the report code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archlab.config import Config
from archlab.rundir import RunDir, flat_row


@dataclass
class RunState:
    """What a callback may read about the run (the engine updates it; callbacks should not)."""

    config: Config
    run_dir: RunDir
    epochs: int
    monitor: str
    monitor_mode: str
    model: nn.Module
    echo: Callable[[str], None]
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    params: int = 0


class Callback:
    """Base class with the three hooks doing nothing (subclassing it is optional)."""

    reason: str = ""

    def on_train_start(self, run: RunState) -> None:
        pass

    def on_epoch_end(self, run: RunState, record: dict[str, Any]) -> bool | None:
        return None

    def on_train_end(self, run: RunState, results: dict[str, Any]) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when the monitor has not improved for ``patience`` epochs (the engine tracks the best)."""

    def __init__(self, patience: int) -> None:
        if patience < 1:
            raise ValueError(f"early stopping needs a patience of at least 1 epoch, got {patience}")
        self.patience = patience

    def on_epoch_end(self, run: RunState, record: dict[str, Any]) -> bool:
        if run.bad_epochs < self.patience:
            return False
        self.reason = (
            f"early stopping: {run.monitor} has not improved for {run.bad_epochs} epochs "
            f"(best {run.best_value:.4f} at epoch {run.best_epoch})"
        )
        return True


class TensorBoard(Callback):
    """Every scalar of every epoch record, under its ``split/metric`` name, in ``RUN_DIR/tensorboard``."""

    def __init__(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise ValueError(
                "run.tensorboard needs the tensorboard package: pip install tensorboard"
            ) from None
        self.writer = None

    def on_train_start(self, run: RunState) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run.run_dir.tensorboard_dir))

    def on_epoch_end(self, run: RunState, record: dict[str, Any]) -> None:
        for k, v in flat_row(record).items():
            if isinstance(v, float | int) and k != "epoch":
                self.writer.add_scalar(k, v, record["epoch"])
        self.writer.flush()

    def on_train_end(self, run: RunState, results: dict[str, Any]) -> None:
        self.writer.close()


# name -> factory(config) returning a callback, or None when the config does not ask for it
_DEFAULTS: dict[str, Callable[[Config], Callback | None]] = {
    "early_stopping": lambda cfg: (
        EarlyStopping(cfg.train.early_stopping) if cfg.train.early_stopping > 0 else None
    ),
    "tensorboard": lambda cfg: TensorBoard() if cfg.run.tensorboard else None,
}


def register_default(name: str, factory: Callable[[Config], Callback | None]) -> None:
    """Add a callback every run gets when ``factory(config)`` returns one (e.g. the run report)."""
    _DEFAULTS[name] = factory


def default_callbacks(cfg: Config) -> list[Any]:
    """The callbacks a config asks for, in registration order."""
    return [cb for cb in (factory(cfg) for factory in _DEFAULTS.values()) if cb is not None]


def callback_name(cb: Any) -> str:
    return getattr(cb, "name", None) or type(cb).__name__


def call(callbacks: list[Any], hook: str, *args: Any) -> list[Any]:
    """Call ``hook`` on every callback that has it; the callbacks that asked to stop."""
    stoppers = []
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None and fn(*args):
            stoppers.append(cb)
    return stoppers
