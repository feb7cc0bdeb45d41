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


def format_factor(factor: float) -> str:
    """A runtime factor as every view writes it: ``1.5×``, ``1.25×``, ``2×``."""
    return f"{factor:g}×"


def format_energy(j: float, *, unit_of: float | None = None) -> str:
    """Joules with an SI prefix: ``460.9 µJ``, ``6.599 mJ``, ``119.4 J``. A zero has no prefix of its
    own: with ``unit_of`` it takes that value's, so that figures read side by side look alike (``0 µJ``
    beside ``455.8 µJ``, not ``0 J``)."""
    scale = unit_of if j == 0 and unit_of else j
    for unit, size in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9)):
        if abs(scale) >= size:
            return f"{j / size:.4g} {unit}"
    return f"{j:.3g} J"


def format_seconds(s: float) -> str:
    """Seconds with an SI prefix: ``132.2 µs``, ``2.39 s``."""
    for unit, size in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(s) >= size:
            return f"{s / size:.4g} {unit}"
    return f"{s:.3g} s"


#: SI prefixes from the largest down, for :func:`format_si`.
_SI_PREFIXES = (
    ("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3),
    ("", 1.0), ("m", 1e-3), ("µ", 1e-6), ("n", 1e-9),
)  # fmt: skip


def format_si(value: float, unit: str) -> str:
    """Three significant figures with an SI prefix, so a figure reads at a glance and sits beside its
    unit: ``6.37 MFLOP/s``, ``580 MFLOP/J``, ``11.0 mW``, ``3.00 W``."""
    if not math.isfinite(value) or abs(value) < _SI_PREFIXES[-1][1]:
        return f"{value:.3g} {unit}"
    k = next(k for k, (_, size) in enumerate(_SI_PREFIXES) if abs(value) >= size)
    text = f"{value / _SI_PREFIXES[k][1]:#.3g}"
    if "e" in text and k > 0:  # rounded up to 1000 of this prefix: 999.96 k is 1.00 M
        k -= 1
        text = f"{value / _SI_PREFIXES[k][1]:#.3g}"
    return f"{text.rstrip('.')} {_SI_PREFIXES[k][0]}{unit}"


def format_change(fraction: float) -> str:
    """A relative change with its sign and three decimals, the one precision every view uses: ``+1.090%``."""
    return f"{fraction:+.3%}"


def format_overhead(energy_j: float, plain_j: float) -> str:
    """``+0.147% over plain``; for a graph whose plain pass costs nothing there is no ratio to show."""
    return f"{format_change(energy_j / plain_j - 1)} over plain" if plain_j > 0 else "the plain pass costs 0 J"


#: A relative gap at or below this is the solver's rounding, not a gap: HiGHS cannot tell finer
#: differences apart, and a plan within it counts as proven optimal.
GAP_TOLERANCE = 1e-6


def format_gap(gap: float) -> str:
    """A relative gap as a percentage that never rounds a real gap to "0.00%" (``1.94%``, ``0.0049%``) and
    never shows float noise as one: a gap within :data:`GAP_TOLERANCE` reads "0.00%"."""
    if gap <= GAP_TOLERANCE:
        return f"{0.0:.2%}"
    return f"{gap:.2%}" if gap >= 1e-3 else f"{gap * 100:.2g}%"
