"""One model of a fleet sweep: energy against RAM budget, one curve per device (and runtime factor).

The app's twin of the CLI report's chart (:mod:`poet_gui.core.sweep.fleet_report`): energy on a log
axis, because devices of one fleet differ by orders of magnitude (a Cortex-M0 spends two hundred
times what a Cortex-M4 does on the same step), markers filled for a proven optimum and hollow for a
plan without that proof. Points without a plan have no energy to draw; each curve's legend entry
counts them. Series are created the first time a device and factor appear and refilled afterwards;
clicking a point emits its row (``point_clicked``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from poet_gui.core.device.units import format_bytes, format_energy, format_factor, format_gap
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.sweep.fleet_csv import FleetRow, sort_rows
from poet_gui.ui.plots.style import (
    BACKGROUND,
    FACTOR_COLORS,
    FOREGROUND,
    STATUS_LABELS,
    STATUS_MARKERS,
    BytesAxis,
    PlotWithLegend,
    Swatch,
    style_plot,
)

#: Marker shapes per runtime factor, in ascending order of factor (the colour is the device's, the
#: fill the status's: a dashed line under a solid one of the same energies reads as a broken line).
_FACTOR_SYMBOLS = ("o", "s", "t", "d", "h")
#: Points whose plan and parameters overflow the device's RAM: drawn at this opacity (0-255).
_OVERFLOW_ALPHA = 110
_POINT_SIZE = 10
_LINE_WIDTH = 2.0
#: Per factor of the same device drawn above it: this much larger a marker and wider a line. Factors
#: often share their energies (a looser runtime budget changes nothing), and a wider series below
#: stays visible as a band around the one above, as in the trade-off plot.
_UNDER_SIZE_STEP = 7
_UNDER_WIDTH_STEP = 2.5
#: Ticks per decade of the energy axis, coarsest first: the first that labels at least three ticks wins.
_TICK_MANTISSAS = ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9))
_ENERGY_PREFIXES = (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12))


@dataclass(frozen=True, slots=True)
class _Series:
    """The items drawing one device at one runtime factor: a line through its plans, a marker per plan."""

    curve: pg.PlotDataItem
    points: pg.ScatterPlotItem


def energy_tick(j: float) -> str:
    """A tick label: ``2 mJ``, ``500 µJ``, ``1.5 J`` (three significant figures at most)."""
    unit, size = next(((u, s) for u, s in _ENERGY_PREFIXES if abs(j) >= s * 0.9995), _ENERGY_PREFIXES[-1])
    return f"{j / size:.3g} {unit}"


def _planned(rows: Sequence[FleetRow]) -> list[FleetRow]:
    """The rows with a plan to draw (an energy; a zero one has no place on a log axis)."""
    return [r for r in rows if r.energy_j is not None and r.energy_j > 0]


def _notes(group: Sequence[FleetRow]) -> str:
    """What a series' legend entry adds: its points without a plan (not drawn) and its plans that
    overflow the device's RAM (drawn faint), each counted."""
    notes = []
    missing = len(group) - len(_planned(group))
    if missing:
        notes.append(f"{missing} of {len(group)} without a plan")
    overflow = sum(r.fits_device is False for r in _planned(group))
    if overflow:
        notes.append(f"{overflow} overflow its RAM")
    return f" ({', '.join(notes)})" if notes else ""


class LogEnergyAxis(pg.AxisItem):
    """An axis whose values are log10 of joules, ticked at round energies (1, 2, 5 per decade when a
    decade is all there is to see) and labelled in mJ or µJ, not as exponents."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        if not (math.isfinite(minVal) and math.isfinite(maxVal)) or maxVal <= minVal:
            return super().tickValues(minVal, maxVal, size)
        for mantissas in _TICK_MANTISSAS:
            values = [
                d + math.log10(m)
                for d in range(math.floor(minVal), math.ceil(maxVal) + 1)
                for m in mantissas
                if minVal <= d + math.log10(m) <= maxVal
            ]
            if len(values) >= 3 or (mantissas is _TICK_MANTISSAS[-1] and len(values) >= 2):
                return [(1.0, values)]
        return super().tickValues(minVal, maxVal, size)  # under a factor of 1.3: plain steps, labelled in J

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [energy_tick(10.0**v) for v in values]


class FleetPlot(PlotWithLegend):
    """Energy against RAM budget for one model of a fleet table, one series per device and factor."""

    point_clicked = Signal(object)  # FleetRow

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            parent, background=BACKGROUND, axisItems={"bottom": BytesAxis("bottom"), "left": LogEnergyAxis("left")}
        )
        plot = self.getPlotItem()
        style_plot(plot, "Energy against RAM budget")
        plot.setLabel("bottom", "RAM budget")
        plot.setLabel("left", "energy per training step")
        self._series: dict[tuple[str, float], _Series] = {}
        self._legend = self.add_legend_below(columns=3)
        self._note = pg.TextItem("", color=FOREGROUND, anchor=(0.5, 0.5))
        self._note.setVisible(False)
        plot.addItem(self._note, ignoreBounds=True)

    def series(self) -> dict[tuple[str, float], _Series]:
        """The series by ``(profile, runtime_factor)`` (a copy of the map; the items are the plot's own)."""
        return dict(self._series)

    def show_rows(self, rows: Sequence[FleetRow], title: str) -> None:
        """Draw ``rows`` (one model's), one series per device and factor; series not among them are
        emptied, not deleted, so a later model reuses them."""
        self.getPlotItem().setTitle(title)
        groups: dict[tuple[str, float], list[FleetRow]] = {}
        for row in sort_rows(rows):
            groups.setdefault((row.profile, row.runtime_factor), []).append(row)
        devices = list(dict.fromkeys(profile for profile, _ in groups))
        factors = sorted({factor for _, factor in groups})
        for key, series in self._series.items():
            if key not in groups:
                series.curve.setData([], [])
                series.points.setData([])
        self._legend.clear()
        for key, group in sorted(groups.items(), key=lambda kv: (devices.index(kv[0][0]), kv[0][1])):
            color = FACTOR_COLORS[devices.index(key[0]) % len(FACTOR_COLORS)]
            rank = factors.index(key[1])
            under = len(factors) - 1 - rank  # series of this device drawn on top of this one
            symbol = _FACTOR_SYMBOLS[rank % len(_FACTOR_SYMBOLS)]
            series = self._series.get(key) or self._add_series(key)
            series.curve.setPen(pg.mkPen(color, width=_LINE_WIDTH + _UNDER_WIDTH_STEP * under))
            series.curve.setZValue(2 * rank)
            series.points.setZValue(2 * rank + 1)
            planned = _planned(group)
            xs, ys = [r.ram_budget_bytes for r in planned], [math.log10(r.energy_j) for r in planned]
            series.curve.setData(xs, ys)
            size = _POINT_SIZE + _UNDER_SIZE_STEP * under
            spots = [self._spot(r, y, color, symbol, size) for r, y in zip(planned, ys, strict=True)]
            series.points.setData(spots=spots)
            label = key[0] if len(factors) == 1 else f"{key[0]}, runtime ≤ {format_factor(key[1])}"
            self._legend.addItem(Swatch(brush=color, pen=color, symbol=symbol, line=True), label + _notes(group))
        for status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
            symbol, is_filled = STATUS_MARKERS[status]
            self._legend.addItem(
                Swatch(brush=FOREGROUND if is_filled else BACKGROUND, pen=FOREGROUND, symbol=symbol),
                STATUS_LABELS[status],
            )
        if any(r.fits_device is False for r in _planned(rows)):
            faint = pg.mkColor(FOREGROUND)
            faint.setAlpha(_OVERFLOW_ALPHA)
            self._legend.addItem(Swatch(brush=faint.name(QColor.NameFormat.HexArgb), pen=BACKGROUND, symbol="o"),
                                 "faint: overflows the device's RAM")  # fmt: skip
        self.fit_legends()
        has_none = bool(rows) and not _planned(rows)
        self._note.setText("No plan at any swept budget" if has_none else "")
        self._note.setVisible(has_none)
        self._fit_view(rows, has_none)

    def _fit_view(self, rows: Sequence[FleetRow], has_none: bool) -> None:
        """Frame every plan (the budgets without one too when there is none to frame); a flat or
        single-point range is widened so its axis does not label millionths (pyqtgraph zooms a
        zero-width span to nothing)."""
        planned = _planned(rows)
        xs = [r.ram_budget_bytes for r in (planned or rows)]
        ys = [math.log10(r.energy_j) for r in planned]
        if not xs:
            return
        x_low, x_high = min(xs), max(xs)
        if x_high - x_low <= 1e-9 * x_high:
            x_low, x_high = x_low * 0.95, x_high * 1.05
        y_low, y_high = (min(ys), max(ys)) if ys else (-1.0, 1.0)
        if y_high - y_low < 0.2:  # under a factor of 1.6: show a little more than one decade's 1-2-5 ticks
            middle = (y_low + y_high) / 2
            y_low, y_high = middle - 0.1, middle + 0.1
        if has_none:
            self._note.setPos((x_low + x_high) / 2, 0.0)
        self.getPlotItem().getViewBox().setRange(xRange=(x_low, x_high), yRange=(y_low, y_high), padding=0.08)

    def _add_series(self, key: tuple[str, float]) -> _Series:
        curve = pg.PlotDataItem(antialias=True)
        points = pg.ScatterPlotItem(hoverable=True, tip=self._tip, antialias=True)
        points.setZValue(1)
        points.sigClicked.connect(self._on_points_clicked)
        plot = self.getPlotItem()
        plot.addItem(curve)
        plot.addItem(points)
        series = _Series(curve, points)
        self._series[key] = series
        return series

    @staticmethod
    def _spot(row: FleetRow, y: float, color: str, symbol: str, size: float) -> dict[str, Any]:
        """A plan's marker: filled if proven optimal (with a white rim, so a factor's marker stays
        visible on the larger one of the factor below it), hollow if not, faint if it overflows the device."""
        fill = pg.mkColor(color)
        if row.fits_device is False:
            fill.setAlpha(_OVERFLOW_ALPHA)
        is_filled = row.is_optimal
        return {
            "pos": (row.ram_budget_bytes, y),
            "symbol": symbol,
            "size": size,
            "pen": pg.mkPen(BACKGROUND if is_filled else fill, width=1.5),
            "brush": pg.mkBrush(fill if is_filled else BACKGROUND),
            "data": row,
        }

    @staticmethod
    def _tip(x: float, y: float, data: FleetRow) -> str:
        """Hover text: device, budgets, status (with the gap of an unproven plan), energy, and what a click does."""
        status = data.status if data.gap is None or data.is_optimal else f"{data.status}, gap {format_gap(data.gap)}"
        energy = format_energy(data.energy_j) if data.energy_j is not None else "no plan"
        fits = ""
        if data.fits_device is False and data.device_ram_bytes is not None:
            fits = f"\nplan and parameters overflow the device's {format_bytes(data.device_ram_bytes)} of RAM"
        return (
            f"{data.profile} · {format_bytes(data.ram_budget_bytes)} · {format_factor(data.runtime_factor)} runtime"
            f" · {status} · {energy}{fits}\nclick: plan this point in the main window"
        )

    def _on_points_clicked(self, _item: pg.ScatterPlotItem, points: Sequence[Any], _event: object) -> None:
        if len(points) > 0:
            self.point_clicked.emit(points[0].data())
