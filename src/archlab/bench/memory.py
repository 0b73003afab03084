"""Peak resident-set growth of this process, for CPU benchmarks.

On Linux: ``VmHWM`` from ``/proc/self/status``, reset to the current resident set by
writing ``5`` to ``/proc/self/clear_refs``; the growth is ``VmHWM`` after minus ``VmRSS``
before. Elsewhere, or where the reset is refused: the growth of
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which only shows memory beyond the
process's earlier peak.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _proc_status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _ru_maxrss_kib() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


class CpuPeak:
    """Peak resident-set growth of this process between ``start()`` and ``stop()``, in MiB."""

    def start(self) -> None:
        self.metric = "cpu_rss_growth (ru_maxrss)"
        self.base = _ru_maxrss_kib()
        rss = _proc_status_kib("VmRSS")
        if rss is None:
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            return
        hwm = _proc_status_kib("VmHWM")
        if hwm is not None and hwm <= rss + 1024:  # the reset took (within 1 MiB of noise)
            self.metric, self.base = "cpu_rss_growth (VmHWM)", rss

    def stop(self) -> float:
        peak = _proc_status_kib("VmHWM") if self.metric.endswith("(VmHWM)") else _ru_maxrss_kib()
        return max(0, (peak or 0) - self.base) / 1024.0
