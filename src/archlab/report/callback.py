"""The run report as an epoch callback: ``report.md`` and ``report.html`` when a run ends.

Registered as a default callback (``run.report``) when archlab is imported, so the
engine never imports the report code. A report problem never fails the run.
"""

from __future__ import annotations

from typing import Any

from archlab.train.callbacks import Callback, RunState, register_default


class WriteReport(Callback):
    """Write the run's report after its results; warn, with the command to retry, if that fails."""

    def on_train_end(self, run: RunState, results: dict[str, Any]) -> None:
        from archlab.report.run_report import write_run_report

        try:
            _, html = write_run_report(run.run_dir.path)
        except Exception as exc:  # noqa: BLE001 - the run itself succeeded; say what went wrong and go on
            run.echo(
                f"warning: the report could not be written ({type(exc).__name__}: {exc}); "
                f"retry with: archlab report {run.run_dir.path}"
            )
            return
        run.echo(f"report: {html}")


register_default("report", lambda cfg: WriteReport() if cfg.run.report else None)
