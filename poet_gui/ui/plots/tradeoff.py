"""Energy against RAM budget over a sweep: what each byte of RAM saved costs, per runtime budget.

Each runtime factor gets one curve and one scatter, created the first time the factor appears and
refilled on later sweeps. Clicking a point asks for that plan (``point_clicked``).

Factors often share energies (a looser runtime budget changes nothing), so, as in the CLI's
``sweep --png``, lower factors are drawn wider and larger underneath: every series stays visible as a
band or ring around the ones above it. The legend sits below the axes, where it hides no point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget

from poet_gui.core.device.units import format_bytes, format_energy, format_factor
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.ui.plots.style import (
    BACKGROUND,
    CURRENT_COLOR,
    FACTOR_COLORS,
    FOREGROUND,
    STATUS_LABELS,
    STATUS_MARKERS,
    BytesAxis,
    PlotWithLegend,
    Swatch,
    style_plot,
)

#: Points without a plan sit this fraction of the energy span below the lowest energy drawn.
_NO_PLAN_DROP = 0.08
#: A data span below this share of its values counts as flat, and is widened by ``_FLAT_PAD`` each side.
_FLAT_SPAN = 1e-9
_FLAT_PAD = 0.05
_POINT_SIZE = 9
#: Per series below the top one: this much larger a marker and wider a line.
_UNDER_SIZE_STEP = 4
_LINE_WIDTH = 1.5
_UNDER_WIDTH_STEP = 1.5
_CURRENT_SIZE = 20
#: Marker of a point whose status this plot does not know: it has a plan or it does not.
_UNKNOWN_WITH_PLAN = STATUS_MARKERS[SolveStatus.FEASIBLE]
_UNKNOWN_WITHOUT_PLAN = STATUS_MARKERS[SolveStatus.INFEASIBLE]


@dataclass(frozen=True, slots=True)
class TradeoffPoint:
    """One solved ``(ram_budget_bytes, runtime_factor)`` pair of a sweep.

    ``status`` is a :class:`SolveStatus` value ("optimal", "feasible", "infeasible", ...);
    ``energy_j`` is the plan's energy in joules, ``None`` when there is no plan.
    """

    ram_budget_bytes: float
    runtime_factor: float
    status: str
    energy_j: float | None


@dataclass(frozen=True, slots=True)
class _Series:
    """The items drawing one runtime factor: a line through its plans and a marker per point."""

    curve: pg.PlotDataItem
    points: pg.ScatterPlotItem
    color: str


class TradeoffPlot(PlotWithLegend):
    """Sweep points per runtime factor, shaped by status, with the current plan starred."""

    point_clicked = Signal(float, float)  # ram_budget_bytes, runtime_factor

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=BACKGROUND, axisItems={"bottom": BytesAxis("bottom")})
        plot = self.getPlotItem()
        style_plot(plot, "Energy against RAM budget")
        plot.setLabel("bottom", "RAM budget")
        plot.setLabel("left", "energy per step", units="J")
        self._series: dict[float, _Series] = {}
        self._current = pg.ScatterPlotItem(
            symbol="star", size=_CURRENT_SIZE, pen=pg.mkPen(FOREGROUND, width=1.2), brush=pg.mkBrush(CURRENT_COLOR)
        )
        self._current.setZValue(10)
        # The star sits on a sweep point: let clicks through to it.
        self._current.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        plot.addItem(self._current)
        self._note = pg.TextItem("", color=FOREGROUND, anchor=(0.5, 0.5))
        self._note.setVisible(False)
        plot.addItem(self._note, ignoreBounds=True)
        self._legend = self.add_legend_below(columns=4)
        self._legend_factors: tuple[float, ...] | None = None
        self._update_legend(())

    def set_points(self, points: Sequence[TradeoffPoint]) -> None:
        """Show a sweep's points; factors absent from ``points`` are emptied, not deleted."""
        by_factor: dict[float, list[TradeoffPoint]] = {}
        for point in sorted(points, key=lambda p: (p.runtime_factor, p.ram_budget_bytes)):
            by_factor.setdefault(point.runtime_factor, []).append(point)
        floor = self._no_plan_energy_j(points)
        for factor, series in self._series.items():
            if factor not in by_factor:
                series.curve.setData([], [])
                series.points.setData([])
        for rank, (factor, group) in enumerate(sorted(by_factor.items())):
            series = self._series.get(factor) or self._add_series(factor)
            under = len(by_factor) - 1 - rank  # how many series are drawn on top of this one
            series.curve.setPen(pg.mkPen(series.color, width=_LINE_WIDTH + _UNDER_WIDTH_STEP * under))
            series.curve.setZValue(2 * rank)
            series.points.setZValue(2 * rank + 1)
            planned = [p for p in group if p.energy_j is not None]
            series.curve.setData([p.ram_budget_bytes for p in planned], [p.energy_j for p in planned])
            size = _POINT_SIZE + _UNDER_SIZE_STEP * under
            series.points.setData(spots=[self._spot(p, floor, series.color, size) for p in group])
        self._update_legend(tuple(sorted(by_factor)))
        self._show_no_plan_note(points)
        self._fit_view()

    def _show_no_plan_note(self, points: Sequence[TradeoffPoint]) -> None:
        """With points but not one plan, there is no energy to scale an axis by: say so instead."""
        has_none = bool(points) and all(p.energy_j is None for p in points)
        self._note.setText("No feasible plan at any swept budget" if has_none else "")
        self._note.setVisible(has_none)
        self.getPlotItem().getAxis("left").setStyle(showValues=not has_none)

    def mark_current(self, ram_budget_bytes: float | None, energy_j: float | None) -> None:
        """Star the plan on show; ``None`` for either removes the star."""
        if ram_budget_bytes is None or energy_j is None:
            self._current.setData([], [])
        else:
            self._current.setData([ram_budget_bytes], [energy_j])
        self._fit_view()

    def _fit_view(self) -> None:
        """Frame every point and the star.

        pyqtgraph's auto-range zooms a single point (or a flat row of them) to a span of zero width,
        labelling the axis in millionths of a KiB; an empty span here is widened to ±5 % instead.
        """
        xs: list[float] = []
        ys: list[float] = []
        for item in (*(s.points for s in self._series.values()), self._current):
            x, y = item.getData()
            xs.extend(x)
            ys.extend(y)
        if not xs:
            return
        ranges = []
        for values in (xs, ys):
            low, high = min(values), max(values)
            if high - low <= _FLAT_SPAN * max(abs(low), abs(high)):
                pad = _FLAT_PAD * (abs(high) or 1.0)
                low, high = low - pad, high + pad
            ranges.append((low, high))
        if self._note.isVisible():  # crosses on a row of their own, the note above them
            ranges[1] = (-1.0, 1.0)
            self._note.setPos((ranges[0][0] + ranges[0][1]) / 2, 0.4)
        self.getPlotItem().getViewBox().setRange(xRange=ranges[0], yRange=ranges[1], padding=0.08)

    def _add_series(self, factor: float) -> _Series:
        color = FACTOR_COLORS[len(self._series) % len(FACTOR_COLORS)]
        curve = pg.PlotDataItem(pen=pg.mkPen(color, width=1.5))
        points = pg.ScatterPlotItem(hoverable=True, tip=self._tip)
        points.sigClicked.connect(self._on_points_clicked)
        plot = self.getPlotItem()
        plot.addItem(curve)
        plot.addItem(points)
        series = _Series(curve, points, color)
        self._series[factor] = series
        return series

    @staticmethod
    def _no_plan_energy_j(points: Sequence[TradeoffPoint]) -> float:
        """Where points without a plan are drawn: just below the lowest energy, so they line the bottom."""
        energies = [p.energy_j for p in points if p.energy_j is not None]
        if not energies:
            return 0.0
        low, high = min(energies), max(energies)
        span = (high - low) or abs(low) * 0.05 or 1.0
        return low - _NO_PLAN_DROP * span

    @staticmethod
    def _spot(point: TradeoffPoint, no_plan_energy_j: float, color: str, size: float) -> dict[str, Any]:
        has_plan = point.energy_j is not None
        default = _UNKNOWN_WITH_PLAN if has_plan else _UNKNOWN_WITHOUT_PLAN
        symbol, is_filled = STATUS_MARKERS.get(point.status, default)
        return {
            "pos": (point.ram_budget_bytes, point.energy_j if has_plan else no_plan_energy_j),
            "symbol": symbol,
            "size": size if symbol != "x" else size + 2,
            "pen": pg.mkPen(color, width=1.5),
            "brush": pg.mkBrush(color if is_filled else BACKGROUND),
            "data": point,
        }

    @staticmethod
    def _tip(x: float, y: float, data: TradeoffPoint) -> str:
        """Hover text of a point: its budgets, status and energy."""
        energy = f" · {format_energy(data.energy_j)}" if data.energy_j is not None else ""
        budgets = f"{format_bytes(data.ram_budget_bytes)} · {format_factor(data.runtime_factor)} runtime"
        return f"{budgets} · {data.status}{energy}"

    def _update_legend(self, factors: tuple[float, ...]) -> None:
        """List the factors on show, then the marker key; rebuilt only when the factors change."""
        if factors == self._legend_factors:
            return
        self._legend_factors = factors
        self._legend.clear()
        for factor in factors:
            color = self._series[factor].color
            swatch = Swatch(brush=color, pen=color, symbol="o", line=True)
            self._legend.addItem(swatch, f"runtime {format_factor(factor)}")
        seen: set[str] = set()
        for status, (symbol, is_filled) in STATUS_MARKERS.items():
            label = STATUS_LABELS[status]
            if label not in seen:
                seen.add(label)
                self._legend.addItem(
                    Swatch(brush=FOREGROUND if is_filled else BACKGROUND, pen=FOREGROUND, symbol=symbol), label
                )
        self._legend.addItem(Swatch(brush=CURRENT_COLOR, pen=FOREGROUND, symbol="star"), "current plan")
        self.fit_legends()

    def _on_points_clicked(self, _item: pg.ScatterPlotItem, points: Sequence[Any], _event: object) -> None:
        if len(points) > 0:
            point: TradeoffPoint = points[0].data()
            self.point_clicked.emit(point.ram_budget_bytes, point.runtime_factor)
