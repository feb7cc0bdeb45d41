"""Reading and writing quantities the way people type and read them (bytes, joules, seconds).

The engine works in SI units throughout; only the edges (CLI arguments, labels) convert.
"""

from __future__ import annotations

import math
import re

from poet_gui.core.errors import PoetError

_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "k": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gib": 1024**3,
}
_BYTES = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_PERCENT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%\s*$")


def parse_bytes(text: str, *, what: str = "RAM budget", percent_of: float | None = None) -> float:
    """Parse ``"5000"``, ``"3.5MiB"``, ``"2 MB"`` or (with ``percent_of``) ``"50%"`` into bytes.

    Binary suffixes (K, KiB, M, MiB, G, GiB) are powers of 1024, decimal ones (kB, MB, GB) of 1000.
    Refuses zero, negative, non-numeric and non-finite values with a message naming ``what``.
    """
    pct = _PERCENT.match(text)
    if pct and percent_of is not None:
        value = float(pct.group(1)) / 100 * percent_of
    else:
        m = _BYTES.match(text)
        unit = m.group(2).lower() if m else None
        if not m or unit not in _BYTE_UNITS:
            hint = ", or a percentage of the plain peak such as 50%" if percent_of is not None else ""
            raise PoetError(f"{what}: {text!r} is not a size; write bytes such as 5000 or 3.5MiB{hint}")
        value = float(m.group(1)) * _BYTE_UNITS[unit]
    if not math.isfinite(value) or value <= 0:
        raise PoetError(f"{what} must be > 0 bytes, got {text!r}")
    return value


def format_bytes(n: float) -> str:
    """``3256 B``, ``12.3 KiB``, ``4.50 MiB``: exact below 10 KiB, three significant figures above."""
    if abs(n) < 10 * 1024:
        return f"{n:,.0f} B"
    unit, size = next((u, s) for u, s in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)) if abs(n) >= s)
    return f"{n / size:.3g} {unit}" if abs(n) / size < 1000 else f"{n / size:,.0f} {unit}"


def format_energy(j: float) -> str:
    """Joules with an SI prefix: ``460.9 µJ``, ``6.599 mJ``, ``119.4 J``."""
    for unit, size in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9)):
        if abs(j) >= size:
            return f"{j / size:.4g} {unit}"
    return f"{j:.3g} J"


def format_seconds(s: float) -> str:
    """Seconds with an SI prefix: ``132.2 µs``, ``2.39 s``."""
    for unit, size in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(s) >= size:
            return f"{s / size:.4g} {unit}"
    return f"{s:.3g} s"


def format_overhead(energy_j: float, plain_j: float) -> str:
    """``+0.147% over plain``; for a graph whose plain pass costs nothing there is no ratio to show."""
    return f"+{energy_j / plain_j - 1:.3%} over plain" if plain_j > 0 else "the plain pass costs 0 J"


def format_gap(gap: float) -> str:
    """A relative gap as a percentage that never rounds a real gap to "0.00%": ``1.94%``, ``0.0049%``."""
    return f"{gap:.2%}" if gap >= 1e-3 or gap == 0 else f"{gap * 100:.2g}%"
