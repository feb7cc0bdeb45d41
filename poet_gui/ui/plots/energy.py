"""What the plan costs in energy, split by kind, next to the plain pass that no schedule can beat.

Paging energy is often orders of magnitude below compute energy and would be an invisible sliver
of a bar, so every part's value is written in the legend, and the totals above the bars.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from poet_gui.core.device.units import format_change, format_energy
from poet_gui.core.schedule.simulate import SimResult
from poet_gui.ui.plots.style import (
    BACKGROUND,
    COMPUTE_COLOR,
    FOREGROUND,
    PAGE_IN_COLOR,
    PAGE_OUT_COLOR,
    PLAIN_COLOR,
    PlotWithLegend,
    Swatch,
    annotation_font,
    style_plot,
)

#: Bar 0 is the plain pass at x = 0; bars 1-3 stack this plan's compute, page-in and page-out at x = 1.
_X = np.array([0.0, 1.0, 1.0, 1.0])
_COLORS = (PLAIN_COLOR, COMPUTE_COLOR, PAGE_IN_COLOR, PAGE_OUT_COLOR)
_NAMES = ("plain pass", "compute", "page in", "page out")
#: Headroom above the taller bar for its value label.
_HEADROOM = 1.22


class EnergyPlot(PlotWithLegend):
    """Two stacked bars, "plain pass" and "this plan", in one ``BarGraphItem`` updated with ``setOpts``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=BACKGROUND)
        plot = self.getPlotItem()
        style_plot(plot, "Energy per training step")
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setLabel("left", "energy per training step", units="J")
        plot.getAxis("bottom").setTicks([[(0.0, "plain pass"), (1.0, "this plan")]])
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        self._bars = pg.BarGraphItem(
            x=_X,
            y0=np.zeros(4),
            height=np.zeros(4),
            width=0.55,
            brushes=[pg.mkBrush(c) for c in _COLORS],
            pens=[pg.mkPen(c) for c in _COLORS],
        )
        plot.addItem(self._bars)
        self._totals = [pg.TextItem("", color=FOREGROUND, anchor=(0.5, 1.0)) for _ in range(2)]
        for text in self._totals:
            text.setFont(annotation_font())
            plot.addItem(text)
        self._legend = self.add_legend_below(columns=2)
        for color, name in zip(_COLORS, _NAMES, strict=True):
            self._legend.addItem(Swatch(brush=color, pen=color), name)
        self.show_result(None, None)

    def show_result(self, sim: SimResult | None, plain_energy_j: float | None) -> None:
        """Draw the plan's parts and the plain pass's energy (joules); either may be ``None`` (no bar)."""
        plain = plain_energy_j or 0.0
        parts = (sim.compute_j, sim.pagein_j, sim.pageout_j) if sim is not None else (0.0, 0.0, 0.0)
        heights = np.array([plain, *parts])
        y0 = np.array([0.0, 0.0, parts[0], parts[0] + parts[1]])
        self._bars.setOpts(x=_X, y0=y0, height=heights)
        values = (plain_energy_j, *parts) if sim is not None else (plain_energy_j, None, None, None)
        for (_, label), name, value in zip(self._legend.items, _NAMES, values, strict=True):
            label.setText(name if value is None else f"{name}: {format_energy(value, unit_of=plain_energy_j)}")
        self.fit_legends()  # the labels' widths changed with their values

        plain_text, plan_text = self._totals
        plain_text.setText(format_energy(plain_energy_j) if plain_energy_j is not None else "")
        plain_text.setPos(0.0, plain)
        total = sum(parts)
        plan_text.setText(self._plan_total_text(total, plain_energy_j) if sim is not None else "")
        plan_text.setPos(1.0, total)
        top = _HEADROOM * max(plain, total) if max(plain, total) > 0 else 1.0
        self.getPlotItem().getViewBox().setRange(xRange=(-0.6, 1.6), yRange=(0, top), padding=0)

    @staticmethod
    def _plan_total_text(total_j: float, plain_energy_j: float | None) -> str:
        """The plan's total, and its overhead over the plain pass: the price paid for fitting in RAM."""
        if not plain_energy_j:
            return format_energy(total_j)
        return f"{format_energy(total_j)} ({format_change(total_j / plain_energy_j - 1)})"
