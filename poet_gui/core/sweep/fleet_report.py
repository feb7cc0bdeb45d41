"""The fleet report: per model, energy against RAM budget with one curve per device, and which
device is the cheapest that fits, as PNG and SVG charts and a Markdown table.

Drawn with matplotlib's Agg canvas (no pyplot, no GUI backend), so it stays Qt-free; the app's Fleet
view reads the same :func:`fleet_summary`. "Fits" means the plan and the parameters fit the device's
whole RAM (``fits_device``; a profile without a RAM figure is taken at its word). Marker shapes
carry the status honestly, as in the trade-off plot: filled a proven optimum, hollow a time-limited
plan.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from poet_gui.core.atomic import write_bytes_atomic, write_text_atomic
from poet_gui.core.device.units import format_bytes, format_energy, format_gap
from poet_gui.core.sweep.fleet_csv import FleetRow, sort_rows

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_DASHES = ("-", "--", ":", "-.")


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    """One device for one model at one runtime factor: the least RAM any plan needs, and the
    cheapest plan that fits the device (``chosen``; None when none of the swept budgets fits)."""

    model: str
    profile: str
    runtime_factor: float
    least_ram_bytes: float
    chosen: FleetRow | None


def fleet_summary(rows: Iterable[FleetRow]) -> list[DeviceChoice]:
    """A :class:`DeviceChoice` per model, device and factor, cheapest first within each model and factor."""
    groups: dict[tuple[str, float, str], list[FleetRow]] = {}
    for row in sort_rows(rows):
        groups.setdefault((row.model, row.runtime_factor, row.profile), []).append(row)
    choices = []
    for (model, factor, profile), group in groups.items():
        fitting = [r for r in group if r.has_plan and r.fits_device is not False]
        chosen = min(fitting, key=lambda r: (r.energy_j, r.ram_budget_bytes), default=None)
        choices.append(DeviceChoice(model, profile, factor, group[0].least_ram_bytes, chosen))
    return sorted(choices, key=lambda c: (c.model, c.runtime_factor, c.chosen is None,
                                          c.chosen.energy_j if c.chosen else 0.0, c.profile))  # fmt: skip


def render_model_chart(rows: Sequence[FleetRow], model: str, *, fmt: str, subtitle: str = "") -> bytes:
    """Energy against RAM budget for one model, one curve per device (and runtime factor)."""
    fig = Figure(figsize=(8.0, 5.2), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    mine = [r for r in sort_rows(rows) if r.model == model]
    devices = list(dict.fromkeys(r.profile for r in mine))
    factors = sorted({r.runtime_factor for r in mine})
    for d, device in enumerate(devices):
        for f, factor in enumerate(factors):
            line = [r for r in mine if r.profile == device and r.runtime_factor == factor and r.has_plan]
            if not line:
                continue
            color = _COLORS[d % len(_COLORS)]
            label = device if len(factors) == 1 else f"{device}, runtime ≤ {factor:g}×"
            xs, ys = [r.ram_budget_bytes / 1024 for r in line], [r.energy_j * 1e3 for r in line]
            ax.plot(xs, ys, color=color, linestyle=_DASHES[f % len(_DASHES)], linewidth=1.8, label=label)
            for r, x, y in zip(line, xs, ys, strict=True):
                ax.plot(x, y, marker="o", color=color, markerfacecolor=color if r.is_optimal else "white",
                        markersize=6, markeredgewidth=1.4)  # fmt: skip
    ax.set_xlabel("RAM budget (KiB)")
    ax.set_ylabel("energy per training step (mJ)")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.grid(True, color="#dddddd", linewidth=0.8)
    ax.legend(fontsize=8.5, frameon=False)
    fig.suptitle(f"{model}: energy against RAM budget", fontsize=12, fontweight="bold")
    if subtitle:
        ax.set_title(f"{subtitle}\nfilled: proven optimal, hollow: time-limited", fontsize=8.5, color="#444444")
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    return out.getvalue()


def fleet_markdown(rows: Sequence[FleetRow], charts: dict[str, str], *, subtitle: str = "") -> str:
    """The report's text: the cheapest fitting device per model, then every device per model."""
    choices = fleet_summary(rows)
    head = "| runtime factor | device | least RAM | chosen budget | energy | status |"
    lines = ["# Fleet report", "", *([subtitle, ""] if subtitle else []), "## Cheapest device that fits, per model",
             "", f"| model {head}", "|---" * 7 + "|"]  # fmt: skip
    seen: set[tuple[str, float]] = set()
    for c in choices:  # cheapest first within each model and factor
        if (c.model, c.runtime_factor) not in seen:
            seen.add((c.model, c.runtime_factor))
            lines.append(f"| {c.model} {_cells(c)}")
    for model in dict.fromkeys(c.model for c in choices):
        lines += ["", f"## {model}", "", f"![{model}: energy against RAM budget]({charts[model]})", "", head,
                  "|---" * 6 + "|", *(_cells(c) for c in choices if c.model == model)]  # fmt: skip
    lines += ["", "*Least RAM*: the least RAM any plan needs (parameters included when the budget includes them). "
              "*Chosen budget*: the swept budget whose plan fits the device and costs least energy.", ""]
    return "\n".join(lines)


def _cells(c: DeviceChoice) -> str:
    """The table cells of one choice, from the runtime factor on."""
    start = f"| {c.runtime_factor:g}× | {c.profile} | {format_bytes(c.least_ram_bytes)} |"
    r = c.chosen
    if r is None or r.energy_j is None:
        return f"{start} no swept budget fits the device | | |"
    gap = "unknown" if r.gap is None else format_gap(r.gap)
    status = "optimal (proven)" if r.is_optimal else f"{r.status}, gap {gap}"
    return f"{start} {format_bytes(r.ram_budget_bytes)} | {format_energy(r.energy_j)} | {status} |"


def write_fleet_report(rows: Sequence[FleetRow], folder: Path, *, subtitle: str = "") -> list[Path]:
    """Write ``<model>.png`` and ``<model>.svg`` per model and ``fleet.md`` into ``folder`` (created
    if missing), each atomically; return the files written."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    written, charts = [], {}
    for model in dict.fromkeys(r.model for r in sort_rows(rows)):
        stem = _slug(model)
        for fmt in ("png", "svg"):
            path = folder / f"{stem}.{fmt}"
            write_bytes_atomic(path, render_model_chart(rows, model, fmt=fmt, subtitle=subtitle))
            written.append(path)
        charts[model] = f"{stem}.svg"
    table = folder / "fleet.md"
    write_text_atomic(table, fleet_markdown(rows, charts, subtitle=subtitle))
    return [*written, table]


def _slug(model: str) -> str:
    """A file name for a model: a zoo name as it is, a file's stem with anything odd replaced."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(model).stem) or "model"
