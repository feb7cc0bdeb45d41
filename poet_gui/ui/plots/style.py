"""Colours, labels and small pyqtgraph helpers shared by the plots, so the four read as one figure.

Colours come from the Okabe-Ito palette, which stays distinguishable for the common forms of colour
blindness; one meaning keeps one colour across plots (compute is blue in the timeline and the energy
bars, page-in green, page-out purple).
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
import pyqtgraph as pg
from pyqtgraph.graphicsItems.ScatterPlotItem import drawSymbol
from PySide6.QtCore import QPointF
from PySide6.QtGui import QFont, QPainter

from poet_gui.core.schedule.plan import SolveStatus

BACKGROUND = "#ffffff"
FOREGROUND = "#303030"
TICK_POINT_SIZE = 9
ANNOTATION_POINT_SIZE = 9
LABEL_STYLE = {"color": FOREGROUND, "font-size": "10pt"}
LEGEND_TEXT_SIZE = "9pt"
TITLE_SIZE = "10pt"
#: How long a hover tooltip stays while the mouse rests (Qt's default hides it after about a second).
TOOLTIP_MS = 60_000

COMPUTE_COLOR = "#0072B2"
RECOMPUTE_COLOR = "#D55E00"
PAGE_IN_COLOR = "#009E73"
PAGE_OUT_COLOR = "#CC79A7"
PLAIN_COLOR = "#9a9a9a"
BUDGET_COLOR = "#D55E00"
PEAK_COLOR = "#000000"
CURRENT_COLOR = "#F0E442"
MEASURED_COLOR = "#E69F00"  # a replay's measured RAM over the predicted curve
STAGE_LINE_COLOR = (48, 48, 48, 40)

#: One colour per runtime factor in the trade-off plot, in the order factors first appear.
FACTOR_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")


class CellState(IntEnum):
    """What a schedule does with one tensor (node) during one stage.

    An IntEnum because the values are the codes the timeline's image holds and its lookup table
    indexes; a cell showing several things shows the highest value (page in/out over computes over
    RAM over storage).
    """

    EMPTY = 0
    IN_STORAGE = 1
    IN_RAM = 2
    FIRST_COMPUTE = 3
    RECOMPUTE = 4
    PAGE_OUT = 5
    PAGE_IN = 6


CELL_COLORS: dict[CellState, str] = {
    CellState.EMPTY: "#f4f4f4",
    CellState.IN_STORAGE: "#d9c6e4",
    CellState.IN_RAM: "#a6cde8",
    CellState.FIRST_COMPUTE: COMPUTE_COLOR,
    CellState.RECOMPUTE: RECOMPUTE_COLOR,
    CellState.PAGE_OUT: PAGE_OUT_COLOR,
    CellState.PAGE_IN: PAGE_IN_COLOR,
}

CELL_LABELS: dict[CellState, str] = {
    CellState.EMPTY: "not held",
    CellState.IN_STORAGE: "in storage",
    CellState.IN_RAM: "kept in RAM",
    CellState.FIRST_COMPUTE: "first compute",
    CellState.RECOMPUTE: "recompute",
    CellState.PAGE_OUT: "page out",
    CellState.PAGE_IN: "page in",
}

#: Trade-off point markers by solve status, as ``(symbol, is_filled)``: filled = proven optimal,
#: hollow = a plan without that proof, a cross = no plan (drawn on the bottom edge: it has no energy).
STATUS_MARKERS: dict[SolveStatus, tuple[str, bool]] = {
    SolveStatus.OPTIMAL: ("o", True),
    SolveStatus.FEASIBLE: ("o", False),
    SolveStatus.INFEASIBLE: ("x", True),
    SolveStatus.TIME_LIMIT: ("x", True),
    SolveStatus.CANCELLED: ("x", True),
}
STATUS_LABELS: dict[SolveStatus, str] = {
    SolveStatus.OPTIMAL: "optimal",
    SolveStatus.FEASIBLE: "feasible (unproven)",
    SolveStatus.INFEASIBLE: "no plan",
    SolveStatus.TIME_LIMIT: "no plan",
    SolveStatus.CANCELLED: "no plan",
}


def lookup_table(colors: dict[CellState, str]) -> np.ndarray:
    """An ``(n, 4)`` RGBA ``uint8`` table whose row ``state`` is that state's colour."""
    return np.array([pg.mkColor(colors[state]).getRgb() for state in CellState], dtype=np.uint8)


#: pyqtgraph's ``textFillLimits``: with N ticks already labelled, labels may fill at most this share of
#: the axis (its default, [(0, 0.8), (2, 0.6), (4, 0.4), (6, 0.2)], labels every minor tick of a tall axis).
_TEXT_FILL_LIMITS = [(0, 0.8), (2, 0.3), (4, 0.2), (6, 0.1)]


def style_plot(plot: pg.PlotItem, title: str) -> None:
    """Give a plot the shared look: a short title, dark axes and text on white, readable tick fonts,
    a faint grid. The title says what the plot is, so an exported image explains itself."""
    plot.setTitle(title, color=FOREGROUND, size=TITLE_SIZE, bold=True)
    font = QFont()
    font.setPointSize(TICK_POINT_SIZE)
    for name in ("left", "bottom", "top", "right"):
        axis = plot.getAxis(name)
        axis.setPen(FOREGROUND)
        axis.setTextPen(FOREGROUND)
        axis.setTickFont(font)
        axis.labelStyle = dict(LABEL_STYLE)
        # Label minor ticks only where they stay sparse: a label per grid line reads as noise.
        axis.setStyle(textFillLimits=_TEXT_FILL_LIMITS)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setMenuEnabled(False)
    # Room at the right for the outermost tick labels, which pyqtgraph lets overhang the axes (the
    # title gives the top its room).
    plot.layout.setContentsMargins(4, 2, 14, 4)


def annotation_font() -> QFont:
    """The font of text placed on the data (value labels, the peak, the budget line)."""
    font = QFont()
    font.setPointSize(ANNOTATION_POINT_SIZE)
    return font


def legend_below(plot: pg.PlotItem, columns: int) -> pg.LegendItem:
    """A legend laid out under the bottom axis, so it never covers data.

    The PlotItem's grid layout has the view box in row 2 and the bottom axis in row 3; row 4 is free.
    """
    legend = pg.LegendItem(colCount=columns, labelTextColor=FOREGROUND, labelTextSize=LEGEND_TEXT_SIZE, frame=False)
    plot.layout.addItem(legend, 4, 1)
    return legend


#: Width beside the left axis that a legend below the view box cannot use: the layout's margins.
_LEGEND_MARGIN_PX = 24


class PlotWithLegend(pg.PlotWidget):
    """A plot whose legends below the axes reflow their columns to the widget's width.

    A legend wider than its plot widens the plot's layout past the widget, and the plot is then clipped
    on the right: at 1366x768 the timeline showed stages 0-20 of 26 and the legend read "first comput".
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._legends: list[tuple[pg.LegendItem, int]] = []  # before the base: its __init__ resizes
        super().__init__(*args, **kwargs)

    def add_legend_below(self, columns: int) -> pg.LegendItem:
        """A :func:`legend_below` of at most ``columns`` columns, fewer when the plot is narrow."""
        legend = legend_below(self.getPlotItem(), columns)
        self._legends.append((legend, columns))
        return legend

    def fit_legends(self) -> None:
        """Reflow every legend to the columns that fit (call after changing entries)."""
        if self._fit_columns(self.width()):
            super().resizeEvent(None)  # lay the plot out again around the reflowed legend

    def resizeEvent(self, event: object) -> None:  # Qt override
        self._fit_columns(self.width())  # first, so the new layout is computed with the new columns
        super().resizeEvent(event)

    def _fit_columns(self, width: int) -> bool:
        """Give each legend the most columns (up to its own maximum) whose width fits; True if any changed."""
        if not self._legends:  # also while the base class is still being built (no plot item yet)
            return False
        room = width - self.getPlotItem().getAxis("left").width() - _LEGEND_MARGIN_PX
        changed = False
        for legend, most in self._legends:
            before = legend.columnCount
            for columns in range(most, 0, -1):
                legend.setColumnCount(columns)
                if legend.layout.preferredWidth() <= room:
                    break
            changed |= legend.columnCount != before
        return changed


class Swatch(pg.ItemSample):
    """A legend sample drawn from a pen, brush and symbol rather than from a plot item.

    Legends here describe colour codes (cell states, statuses) that are not one plot item each, and
    a click must not hide anything, unlike pyqtgraph's default sample.
    """

    def __init__(self, *, brush: str | None = None, pen: str | None = None, symbol: str = "s", line: bool = False):
        super().__init__(None)
        self._brush = pg.mkBrush(brush) if brush is not None else pg.mkBrush(None)
        self._pen = pg.mkPen(pen, width=1.5) if pen is not None else pg.mkPen(None)
        self._symbol = symbol
        self._line = line

    def paint(self, p: QPainter, *args: object) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._line:
            p.setPen(pg.mkPen(self._pen.color(), width=2))
            p.drawLine(QPointF(0, 10), QPointF(20, 10))
        p.translate(10, 10)
        drawSymbol(p, self._symbol, 12, self._pen, self._brush)

    def mouseClickEvent(self, event: object) -> None:  # Qt override: a legend entry is not a toggle here.
        event.accept()


_BINARY_UNITS = (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


class BytesAxis(pg.AxisItem):
    """An axis in bytes with ticks at round numbers of the unit :func:`format_bytes` would use.

    pyqtgraph's SI prefixes are decimal (kB); the app shows sizes in binary units (KiB), so the axis
    picks the unit from the visible range (bytes below 10 KiB, as ``format_bytes`` does) and spaces
    the ticks in that unit.
    """

    def __init__(self, orientation: str = "left") -> None:
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)

    def _unit(self) -> tuple[str, float]:
        top = max(abs(v) for v in self.range)
        if top < 10 * 1024:
            return "B", 1.0
        return next(((name, size) for name, size in _BINARY_UNITS if top >= size), ("KiB", 1024.0))

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        _, unit = self._unit()
        levels = super().tickSpacing(minVal / unit, maxVal / unit, size)
        return [(spacing * unit, offset * unit) for spacing, offset in levels]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        name, unit = self._unit()
        places = max(0, math.ceil(-math.log10(spacing / unit))) if spacing > 0 else 0
        return [f"{v / unit:,.{places}f} {name}" for v in values]
