"""RAM in use through the schedule, against the budget: where the plan is tight, and by how much.

The x axis counts operations (computes, frees, page-ins, page-outs), not seconds: a free takes no
time but changes RAM, and is exactly what a person reading the schedule wants to see. Operation
``k`` occupies ``[k, k + 1)``; the top axis names the stage the operations belong to. A replay of the
plan on the real model (Plan ▸ Replay on this machine) adds its measured curve over the predicted one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QToolTip, QWidget

from poet_gui.core.device.units import format_bytes
from poet_gui.core.schedule.operations import Action
from poet_gui.core.schedule.simulate import SimResult
from poet_gui.ui.plots.style import (
    BACKGROUND,
    BUDGET_COLOR,
    COMPUTE_COLOR,
    MEASURED_COLOR,
    PEAK_COLOR,
    STAGE_LINE_COLOR,
    TOOLTIP_MS,
    BytesAxis,
    annotation_font,
    style_plot,
)

#: Headroom above the higher of budget and peak, so their labels fit inside the view.
_HEADROOM = 1.2
#: At most this many labelled stages on the top axis; the others get unlabelled ticks.
_MAX_STAGE_LABELS = 12
#: At most this many stage boundary lines: more would shade the plot grey instead of marking stages.
_MAX_STAGE_LINES = 60


def _stage_step(stages: int, most: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that picks at most ``most`` of ``stages`` stages."""
    for magnitude in itertools.count():
        for mantissa in (1, 2, 5):
            step = mantissa * 10**magnitude
            if math.ceil(stages / step) <= most:
                return step
    raise AssertionError("unreachable: itertools.count() never ends")


def _staircase(levels: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Operation k holds ``levels[k]`` over [k, k + 1): a staircase drawn as a plain line, so peak
    downsampling and clipping (which need len(x) == len(y)) work unchanged."""
    x = np.repeat(np.arange(len(levels) + 1, dtype=float), 2)[1:-1]
    return x, np.repeat(np.asarray(levels, dtype=float), 2)


class MemoryPlot(pg.PlotWidget):
    """A filled step curve of RAM after each operation, the budget line, the peak, stage boundaries."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=BACKGROUND, axisItems={"left": BytesAxis("left")})
        plot = self.getPlotItem()
        plot.showAxis("top")
        style_plot(plot, "RAM in use, step by step")
        plot.showGrid(x=False, y=True, alpha=0.15)  # the stage boundaries are the vertical guides
        plot.setLabel("bottom", "operation (in schedule order)")
        plot.setLabel("top", "stage")
        plot.setLabel("left", "RAM in use")
        self._stage_lines = pg.PlotCurveItem(pen=pg.mkPen(STAGE_LINE_COLOR), connect="pairs")
        plot.addItem(self._stage_lines, ignoreBounds=True)
        self._ram = plot.plot(
            pen=pg.mkPen(COMPUTE_COLOR, width=1.2),
            fillLevel=0,
            fillBrush=pg.mkBrush(COMPUTE_COLOR + "40"),
        )
        self._ram.setDownsampling(auto=True, method="peak")
        self._ram.setClipToView(True)
        # The executor's resident bytes from a replay: a thinner dashed line, so where it lies exactly on
        # the prediction (it should, byte for byte) the predicted curve still shows through its gaps.
        self._measured = plot.plot(pen=pg.mkPen(MEASURED_COLOR, width=2, style=Qt.PenStyle.DashLine))
        self._measured.setDownsampling(auto=True, method="peak")
        self._measured.setClipToView(True)
        # One row, in the headroom above the budget line, on the side away from the budget's label.
        self._legend = pg.LegendItem(colCount=2, labelTextColor="#303030", brush=pg.mkBrush(BACKGROUND + "d0"))
        self._legend.setParentItem(plot.getViewBox())
        self._legend.addItem(self._ram, "predicted")
        self._legend.addItem(self._measured, "measured (replay)")
        self._legend.hide()  # only beside a measured curve: alone, the predicted one needs no key
        self._budget = pg.InfiniteLine(
            angle=0, movable=False, pen=pg.mkPen(BUDGET_COLOR, width=1.5, style=Qt.PenStyle.DashLine)
        )
        self._budget_label = pg.InfLineLabel(self._budget, text="", color=BUDGET_COLOR)
        plot.addItem(self._budget, ignoreBounds=True)
        self._peak = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=1), brush=pg.mkBrush(PEAK_COLOR))
        plot.addItem(self._peak)
        self._peak_label = pg.TextItem("", color=PEAK_COLOR, fill=pg.mkBrush(BACKGROUND + "d0"))
        plot.addItem(self._peak_label, ignoreBounds=True)
        for item in (self._budget_label, self._peak_label):
            item.setFont(annotation_font())
        self._sim: SimResult | None = None
        self._names: tuple[str, ...] = ()
        self.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.show_result(None)

    def show_result(self, sim: SimResult | None, names: tuple[str, ...] = ()) -> None:
        """Draw ``sim``'s RAM trace (``names``: the graph's node names, for the hover text); ``None``
        empties every item (they stay, to be refilled)."""
        self._sim, self._names = sim, names
        self.show_measured(None)  # a measured curve belongs to the plan it was replayed from
        plot = self.getPlotItem()
        if sim is None or len(sim.operations) == 0:
            self._ram.setData([], [])
            self._stage_lines.setData([], [])
            self._peak.setData([], [])
            self._peak_label.setText("")
            self._budget.hide()
            plot.getAxis("top").setTicks([[], []])
            return
        n = len(sim.operations)
        self._ram.setData(*_staircase(sim.ram_bytes))

        has_budget = math.isfinite(sim.budget_bytes)
        top = _HEADROOM * max(sim.peak_ram_bytes, sim.budget_bytes if has_budget else 0.0, 1.0)
        stages = np.array([op.stage for op in sim.operations])
        starts = np.flatnonzero(np.diff(stages, prepend=stages[0] - 1))
        count = int(stages[-1]) + 1
        lined = starts[stages[starts] % _stage_step(count, _MAX_STAGE_LINES) == 0]
        self._stage_lines.setData(np.repeat(lined, 2).astype(float), np.tile([0.0, top], len(lined)))
        step = _stage_step(count, _MAX_STAGE_LABELS)
        labelled = [(float(k), str(stages[k])) for k in lined if stages[k] % step == 0]
        unlabelled = [(float(k), "") for k in lined if stages[k] % step != 0]
        plot.getAxis("top").setTicks([labelled, unlabelled])

        peak_x = sim.peak_index + 0.5
        is_right_half = peak_x > n / 2
        self._peak.setData([peak_x], [sim.peak_ram_bytes])
        self._peak_label.setText(f"peak {format_bytes(sim.peak_ram_bytes)}")
        # Beside the marker, on the side with more room; the fill keeps it legible over the budget line.
        self._peak_label.setAnchor((1.15, 0.5) if is_right_half else (-0.15, 0.5))
        self._peak_label.setPos(peak_x, sim.peak_ram_bytes)

        self._budget.setVisible(has_budget)
        if has_budget:
            self._budget.setPos(sim.budget_bytes)
            # The budget's label goes to the side away from the peak, so the two never overlap.
            self._budget_label.setPosition(0.03 if is_right_half else 0.97)
            # InfLineLabel has no setter for its anchors (one per side of the view's centre): same both ways.
            self._budget_label.anchors = [(0, 1), (0, 1)] if is_right_half else [(1, 1), (1, 1)]
            self._budget_label.setFormat(f"budget {format_bytes(sim.budget_bytes)}")
        plot.getViewBox().setRange(xRange=(0, n), yRange=(0, top), padding=0)

    def show_measured(self, resident_bytes: Sequence[int] | None) -> None:
        """Overlay a replay's measured bytes after each operation of the plan on show (one per operation,
        as :attr:`SimResult.ram_bytes`), drawn as the same staircase; ``None`` removes the overlay."""
        if resident_bytes is None or len(resident_bytes) == 0:
            self._measured.setData([], [])
            self._legend.hide()
            return
        self._measured.setData(*_staircase(resident_bytes))
        is_peak_right = self._sim is not None and self._sim.peak_index + 0.5 > len(self._sim.operations) / 2
        corner = (1, 0) if is_peak_right else (0, 0)  # the budget's label sits on the other side
        self._legend.anchor(corner, corner, offset=(-6, 2) if is_peak_right else (6, 2))
        self._legend.show()
        view = self.getPlotItem().getViewBox()
        top = _HEADROOM * max(resident_bytes)
        if top > view.viewRange()[1][1]:  # a measured curve above the prediction must not leave the view
            view.setYRange(0, top, padding=0)

    def has_measured(self) -> bool:
        """True while a replay's measured curve is on show."""
        x, _ = self._measured.getData()
        return x is not None and len(x) > 0

    def tooltip_at(self, x: float) -> str:
        """What the hover says at ``x``: the operation there, its stage and tensor, and the RAM after it."""
        sim = self._sim
        if sim is None or not 0 <= x < len(sim.operations):
            return ""
        k = int(x)
        op = sim.operations[k]
        name = self._names[op.node] if op.node < len(self._names) else f"node {op.node}"
        action = "recompute" if op.action is Action.COMPUTE and op.is_recompute else op.action.value
        return f"operation {k} · stage {op.stage} · {action} {name} · {format_bytes(float(sim.ram_bytes[k]))} in use"

    def _on_scene_mouse_moved(self, pos: QPointF) -> None:
        view = self.getPlotItem().getViewBox()
        text = self.tooltip_at(view.mapSceneToView(pos).x()) if view.sceneBoundingRect().contains(pos) else ""
        if text:
            QToolTip.showText(QCursor.pos(), text, self, msecShowTime=TOOLTIP_MS)
        else:
            QToolTip.hideText()
