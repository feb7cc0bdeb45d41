"""The schedule as a picture: one row per tensor, one column per stage, one colour per thing done.

A 335-node model has 112,225 cells, so the picture is one ``ImageItem`` of small integer codes
coloured through a lookup table, redrawn with ``setImage`` rather than one item per cell.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QToolTip, QWidget

from poet_gui.core.device.units import format_bytes
from poet_gui.core.schedule.plan import Decisions
from poet_gui.core.schedule.problem import Problem
from poet_gui.ui.plots.style import (
    BACKGROUND,
    CELL_COLORS,
    CELL_LABELS,
    TOOLTIP_MS,
    CellState,
    PlotWithLegend,
    Swatch,
    lookup_table,
    style_plot,
)


def cell_states(d: Decisions) -> np.ndarray:
    """``(T, T)`` ``uint8`` codes of :class:`CellState` indexed ``[stage, node]``.

    Later assignments win, which gives the priority the legend promises: page in/out over computes
    over "kept in RAM" over "in storage" (a tensor both in RAM and in storage counts as in RAM).
    """
    n = d.compute.shape[0]
    codes = np.full((n, n), CellState.EMPTY, dtype=np.uint8)
    codes[d.stored] = CellState.IN_STORAGE
    codes[d.resident] = CellState.IN_RAM
    codes[d.compute] = CellState.RECOMPUTE
    diagonal = np.arange(n)
    codes[diagonal, diagonal] = CellState.FIRST_COMPUTE  # every node is first computed in its own stage
    codes[d.page_out] = CellState.PAGE_OUT
    codes[d.page_in] = CellState.PAGE_IN
    return codes


class TimelinePlot(PlotWithLegend):
    """Stages across, nodes down (node 0 at the top, as the graph reads), with a hover tooltip per cell."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=BACKGROUND)
        self._problem: Problem | None = None
        plot = self.getPlotItem()
        style_plot(plot, "Schedule: what each tensor does at each stage")
        plot.showGrid(x=False, y=False)
        plot.setLabel("bottom", "stage")
        plot.setLabel("left", "node (tensor)")
        plot.getViewBox().invertY(True)
        self._image = pg.ImageItem(axisOrder="col-major")  # image[x, y] = codes[stage, node]
        self._image.setLookupTable(lookup_table(CELL_COLORS))
        plot.addItem(self._image)
        self._legend = self.add_legend_below(columns=4)
        for state in CellState:
            self._legend.addItem(Swatch(brush=CELL_COLORS[state], pen="#808080"), CELL_LABELS[state])
        self.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)

    def show_plan(self, problem: Problem, decisions: Decisions | None) -> None:
        """Draw ``decisions`` for ``problem``; ``None`` empties the picture but keeps the axes' extent."""
        self._problem = problem
        n = len(problem.graph)
        if decisions is None:
            self._image.clear()
        else:
            levels = (CellState.EMPTY, CellState.EMPTY + len(CellState))
            self._image.setImage(cell_states(decisions), autoLevels=False, levels=levels)
            # Cell [t, i] is centred on (t, i), so integer ticks fall mid-cell.
            self._image.setRect(-0.5, -0.5, n, n)
        view = self.getPlotItem().getViewBox()
        view.setLimits(xMin=-0.5, xMax=n - 0.5, yMin=-0.5, yMax=n - 0.5)
        view.setRange(xRange=(-0.5, n - 0.5), yRange=(-0.5, n - 0.5), padding=0)

    def action_at(self, stage: int, node: int) -> str:
        """The legend label of cell ``[stage, node]`` ("recompute", "page in", ...), "" outside the plan."""
        codes = self._image.image
        if codes is None or not (0 <= stage < codes.shape[0] and 0 <= node < codes.shape[1]):
            return ""
        return CELL_LABELS[CellState(int(codes[stage, node]))]

    def tooltip_at(self, stage: int, node: int) -> str:
        """What the hover tooltip says for cell ``[stage, node]``: where, which tensor, its size, what happens."""
        action = self.action_at(stage, node)
        if not action or self._problem is None:
            return ""
        info = self._problem.graph.nodes[node]
        size = format_bytes(float(self._problem.costs.ram_bytes[node]))
        return f"stage {stage} · {info.name} ({info.op}) · {size} · {action}"

    def _on_scene_mouse_moved(self, pos: QPointF) -> None:
        view = self.getPlotItem().getViewBox()
        text = ""
        if view.sceneBoundingRect().contains(pos):
            point = view.mapSceneToView(pos)
            text = self.tooltip_at(round(point.x()), round(point.y()))
        if text:
            QToolTip.showText(QCursor.pos(), text, self, msecShowTime=TOOLTIP_MS)
        else:
            QToolTip.hideText()
