"""The sweep's trade-off as a PNG: energy per training step against RAM budget, one line per runtime factor.

It shows the same points as the app's trade-off plot, for reports and for runs without a display.
matplotlib draws through its Agg canvas directly (no pyplot, no GUI backend), so this stays Qt-free
and safe to call from any thread. Marker shapes carry the status honestly: a filled dot is a proven
optimum, a hollow one a time-limited plan (its gap written beside it), and a cross at the bottom of
the plot a budget with no plan.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from poet_gui.core.atomic import write_bytes_atomic
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.schedule.reference_points import ReferencePoints
from poet_gui.core.sweep.tradeoff import SweepPoint, sorted_points

_SIZE_IN = (9.0, 6.2)
_DPI = 120
#: Points without a plan sit this fraction of the energy span below the lowest energy drawn.
_NO_PLAN_DROP = 0.08
#: A span below this share of the values counts as flat and is widened to ``_FLAT_PAD`` each side.
_FLAT_SPAN = 1e-9
_FLAT_PAD = 0.02
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_REFERENCE_COLOR = "#555555"


def render_sweep_png(
    points: Sequence[SweepPoint], *, title: str, subtitle: str = "", reference: ReferencePoints | None = None
) -> bytes:
    """The plot as PNG bytes; ``reference`` adds the plain pass's energy and the RAM limits as guides."""
    fig = Figure(figsize=_SIZE_IN, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    energies = [p.energy_j for p in points if p.energy_j is not None]
    guides = [reference.plain_energy_j] if reference is not None else []
    e_unit, e_scale = _energy_unit(max(energies + guides, default=1.0))
    budgets = [p.ram_budget_bytes for p in points]
    b_unit, b_scale = _bytes_unit(max(budgets, default=1.0))
    low, high = _padded(energies + guides)
    floor = low - _NO_PLAN_DROP * (high - low)
    has_no_plan = any(p.energy_j is None for p in points)

    by_factor: dict[float, list[SweepPoint]] = {}
    for p in sorted_points(points):
        by_factor.setdefault(p.runtime_factor, []).append(p)
    handles: list[Line2D] = []
    for i, (factor, group) in enumerate(by_factor.items()):
        color = _COLORS[i % len(_COLORS)]
        # Factors often share energies (a looser runtime budget changes nothing): earlier factors are
        # drawn wider underneath, so every line stays visible as a band around the later ones.
        under = len(by_factor) - 1 - i
        planned = [p for p in group if p.energy_j is not None]
        (line,) = ax.plot(
            [p.ram_budget_bytes / b_scale for p in planned],
            [p.energy_j / e_scale for p in planned],
            color=color,
            linewidth=1.8 + 1.8 * under,
            label=f"runtime ≤ {factor:g}× plain pass",
            zorder=2 + i,
        )
        handles.append(line)
        for p in group:
            x = p.ram_budget_bytes / b_scale
            if p.energy_j is None:
                ax.plot(x, floor / e_scale, marker="x", color=color, markersize=9 + 3 * under, markeredgewidth=2)
                continue
            is_optimal = p.status == SolveStatus.OPTIMAL
            ax.plot(
                x,
                p.energy_j / e_scale,
                marker="o",
                markersize=7 + 3.5 * under,
                zorder=2 + i,
                color=color,
                markerfacecolor=color if is_optimal else "white",
                markeredgewidth=1.6,
            )
            if not is_optimal and p.gap is not None:
                ax.annotate(
                    f"gap {p.gap:.1%}", (x, p.energy_j / e_scale), xytext=(5, 5), textcoords="offset points",
                    fontsize=8, color=color,
                )  # fmt: skip

    if reference is not None:
        ax.axhline(reference.plain_energy_j / e_scale, color=_REFERENCE_COLOR, linestyle="--", linewidth=1)
        handles.append(
            Line2D([], [], color=_REFERENCE_COLOR, linestyle="--", label="plain pass (no schedule costs less)")
        )
        limits = (
            (reference.min_ram_bytes, "least RAM any plan needs"),
            (reference.plain_peak_ram_bytes, "plain schedule's peak"),
        )
        for x, label in limits:
            ax.axvline(x / b_scale, color=_REFERENCE_COLOR, linestyle=":", linewidth=1)
            ax.text(
                x / b_scale, 0.5, f"{label} ", transform=ax.get_xaxis_transform(), rotation=90,
                ha="right", va="center", fontsize=8, color=_REFERENCE_COLOR,
            )  # fmt: skip
    handles += [
        Line2D([], [], color="black", marker="o", linestyle="", label="optimal (proven)"),
        Line2D([], [], color="black", marker="o", markerfacecolor="white", linestyle="", label="feasible (time limit)"),
        Line2D([], [], color="black", marker="x", linestyle="", markeredgewidth=2, label="no plan"),
    ]

    bottom = floor - _NO_PLAN_DROP * (high - low) if has_no_plan else low
    ax.set_ylim(bottom / e_scale, high / e_scale)
    ax.set_xlabel(f"RAM budget ({b_unit})")
    ax.set_ylabel(f"energy per training step ({e_unit})")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if b_scale == 1 else f"{v:,.3g}"))
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.grid(True, color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    if reference is not None and reference.plain_energy_j > 0:
        plain = reference.plain_energy_j / e_scale
        over = ax.secondary_yaxis("right", functions=(lambda y: (y / plain - 1) * 100, lambda p: (p / 100 + 1) * plain))
        over.set_ylabel("over the plain pass (%)")
    # Below the axes, where it can never hide a point or a gap label.
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8.5, frameon=False)
    fig.suptitle(title, fontsize=13, fontweight="bold")
    if subtitle:
        ax.set_title(subtitle, fontsize=9.5, color="#444444")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def write_sweep_png(
    points: Sequence[SweepPoint],
    path: Path,
    *,
    title: str,
    subtitle: str = "",
    reference: ReferencePoints | None = None,
) -> None:
    """Render :func:`render_sweep_png` and write it atomically."""
    write_bytes_atomic(Path(path), render_sweep_png(points, title=title, subtitle=subtitle, reference=reference))


def _energy_unit(largest_j: float) -> tuple[str, float]:
    """The SI unit that puts the largest energy between 1 and 1000 (or J for anything bigger)."""
    for unit, size in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6)):
        if largest_j >= size:
            return unit, size
    return "nJ", 1e-9


def _bytes_unit(largest: float) -> tuple[str, float]:
    """Bytes up to 10 KiB (read exactly, as the CLI prints them), else the binary unit that fits."""
    for unit, size in (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0)):
        if largest >= max(size, 10 * 1024):
            return unit, size
    return "B", 1.0


def _padded(values: Sequence[float]) -> tuple[float, float]:
    """The range of ``values``, widened when flat so a row of equal energies is not a zero-height axis."""
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if high - low <= _FLAT_SPAN * max(abs(low), abs(high)):
        pad = _FLAT_PAD * (abs(high) or 1.0)
        return low - pad, high + pad
    pad = 0.06 * (high - low)
    return low - pad, high + 2 * pad  # room above the top points for their gap labels
