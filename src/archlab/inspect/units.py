"""Units, stated once: MB = 10^6 bytes, MiB = 2^20 bytes, G = 10^9 and M = 10^6 operations."""

from __future__ import annotations

MB = 10**6
MIB = 2**20


def units_legend() -> dict[str, str]:
    """The units used in every archlab inspect output (also written into JSON)."""
    return {
        "bytes": "B; MB = 10^6 bytes, MiB = 2^20 bytes",
        "macs": "multiply-accumulate operations; G = 10^9, M = 10^6",
        "flops": "floating-point operations of contractions = 2 x MACs",
        "norm_elements": "elements normalised (BatchNorm/LayerNorm/GroupNorm/RMSNorm)",
        "elementwise_ops": "elements produced by pointwise ops, read by reductions and pooling",
        "params": "scalar parameters, each tensor counted once",
    }


def fmt_int(n: int) -> str:
    """``7902 -> '7,902'``."""
    return f"{int(n):,}"


def fmt_count(n: float, digits: int = 2) -> str:
    """An operation count with an SI prefix: ``4.09 G``, ``1.24 M``, ``512``."""
    n = float(n)
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {prefix}"
    return f"{n:.0f}"


def fmt_mb(nbytes: float, digits: int = 2) -> str:
    """Bytes in MB (10^6 bytes)."""
    return f"{nbytes / MB:.{digits}f} MB"


def fmt_mib(nbytes: float, digits: int = 2) -> str:
    """Bytes in MiB (2^20 bytes)."""
    return f"{nbytes / MIB:.{digits}f} MiB"


def fmt_signed(n: float, kind: str) -> str:
    """A signed difference: ``+1,204`` (ints), ``-0.41 G`` (counts) or ``+2.10 MB`` (bytes)."""
    sign = "+" if n > 0 else "−" if n < 0 else "±"
    if kind == "int":
        return f"{sign}{abs(int(n)):,}"
    if kind == "bytes":
        return f"{sign}{fmt_mb(abs(n))}"
    return f"{sign}{fmt_count(abs(n))}"
