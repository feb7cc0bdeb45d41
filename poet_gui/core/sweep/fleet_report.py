"""The fleet report: per model, energy against RAM budget with one curve per device, and which
device is the cheapest that fits, as PNG and SVG charts and a Markdown table.

Drawn with matplotlib's Agg canvas (no pyplot, no GUI backend), so it stays Qt-free; the table comes
from :func:`~poet_gui.core.sweep.fleet_summary.fleet_summary`, which the app's Fleet view shows too.
Marker shapes carry the status honestly, as in the trade-off plot: filled a proven optimum, hollow a
time-limited plan.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from poet_gui.core.atomic import write_bytes_atomic, write_text_atomic
from poet_gui.core.sweep.fleet_csv import FleetRow, model_labels, sort_rows
from poet_gui.core.sweep.fleet_summary import DeviceChoice, cheapest_per_model, choice_cells, fleet_summary

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_DASHES = ("-", "--", ":", "-.")


def render_model_chart(rows: Sequence[FleetRow], model: str, *, fmt: str, subtitle: str = "") -> bytes:
    """Energy against RAM budget for one model (its label, :func:`model_labels`), one curve per device
    (and runtime factor)."""
    fig = Figure(figsize=(8.0, 5.2), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = model_labels(rows)
    mine = [r for r in sort_rows(rows) if labels[r.variant] == model]
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
    lines += [f"| {c.model} {_cells(c)}" for c in cheapest_per_model(rows)]
    for model in dict.fromkeys(c.model for c in choices):
        lines += ["", f"## {model}", "", f"![{model}: energy against RAM budget]({charts[model]})", "", head,
                  "|---" * 6 + "|", *(_cells(c) for c in choices if c.model == model)]  # fmt: skip
    lines += ["", "*Least RAM*: the least RAM any plan needs (parameters included when the budget includes them). "
              "*Chosen budget*: the swept budget whose plan fits the device and costs least energy.", ""]
    return "\n".join(lines)


def _cells(c: DeviceChoice) -> str:
    """The table cells of one choice, from the runtime factor on."""
    return "|" + "|".join(f" {cell} " if cell else " " for cell in choice_cells(c)) + "|"


def write_fleet_report(rows: Sequence[FleetRow], folder: Path, *, subtitle: str = "") -> list[Path]:
    """Write ``<model>.png`` and ``<model>.svg`` per model and ``fleet.md`` into ``folder`` (created
    if missing), each atomically; return the files written."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    written, charts = [], {}
    labels = model_labels(rows)
    for model in dict.fromkeys(labels[r.variant] for r in sort_rows(rows)):
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
