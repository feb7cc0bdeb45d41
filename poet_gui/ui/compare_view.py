"""Two plans side by side: where they decide differently, what it costs, and how their RAM compares.

An engineer compares schedules made under different budgets, devices or switches to choose one, so
the view answers "what changed?" at a glance:

- the two timelines, zoomed and panned together, with every cell the plans share washed out so the
  cells where they differ stand out in full colour;
- a differences map over the same stages × nodes, in the plans' colours: which plan does work (a
  compute, recompute or page) where the other does none, and which keeps a tensor in RAM where the
  other does not;
- both RAM curves on one plot with both budgets, aligned by stage with the timelines above;
- the key figures of both plans, with the difference ``B - A``; rows that differ are highlighted.

Cells compare only between plans of the same graph structure (the same nodes in the same order);
the device, the budgets and the tensor sizes may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QPointF, QSettings, Qt, Slot
from PySide6.QtGui import QBrush, QColor, QCursor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from poet_gui.core.atomic import write_bytes_atomic
from poet_gui.core.device.units import format_bytes
from poet_gui.core.errors import PoetError
from poet_gui.core.files.workspace import PinnedPlan
from poet_gui.core.schedule.simulate import SimResult
from poet_gui.core.solve.planner import VerifiedPlan
from poet_gui.ui.exports import widget_png
from poet_gui.ui.plan_figures import (
    BUDGET_FIGURES,
    FIGURES,
    difference_text,
    gap_text,
    switches_text,
    unbroken,
)
from poet_gui.ui.plots import TimelinePlot
from poet_gui.ui.plots.style import (
    BACKGROUND,
    FOREGROUND,
    BytesAxis,
    CellState,
    PlotWithLegend,
    Swatch,
    annotation_font,
    style_plot,
)
from poet_gui.ui.plots.timeline import cell_states

#: The two plans' colours wherever they are told apart (curves, budgets, the differences map, labels):
#: Okabe-Ito orange and sky blue (darkened to read as text and thin lines on white), a pair that stays
#: distinct for the common colour blindnesses and is not used for a cell state.
A_COLOR = "#3a9ad9"
B_COLOR = "#E69F00"
#: Pale versions of the two colours, for "keeps the tensor in RAM here" (work gets the full colour).
A_LIGHT_COLOR = "#b3d8f2"
B_LIGHT_COLOR = "#f6d58a"
#: Where both plans make the same decision, the cells are covered by white at this opacity (0-255).
FADE_ALPHA = 185
#: Background of the figure rows whose values differ between the plans.
DIFFERENT_ROW_COLOR = "#fff1c7"
_WORK = np.array([s in (CellState.FIRST_COMPUTE, CellState.RECOMPUTE, CellState.PAGE_IN, CellState.PAGE_OUT)
                  for s in CellState])  # fmt: skip


class DiffKind(IntEnum):
    """How one cell ``[stage, node]`` compares between plans A and B (codes of the differences map).

    "Work" is a compute, recompute, page-in or page-out in the stage; "held" is kept in RAM or in
    storage. Codes from ``ONLY_A_WORKS`` on are differences; the first that applies wins.
    """

    SAME_EMPTY = 0
    SAME_HELD = 1
    SAME_WORK = 2
    ONLY_A_WORKS = 3
    ONLY_B_WORKS = 4
    ONLY_A_IN_RAM = 5
    ONLY_B_IN_RAM = 6
    DIFFERENT = 7


DIFF_COLORS: dict[DiffKind, str] = {
    DiffKind.SAME_EMPTY: "#f7f7f7",
    DiffKind.SAME_HELD: "#e6e6e6",
    DiffKind.SAME_WORK: "#c8c8c8",
    DiffKind.ONLY_A_WORKS: A_COLOR,
    DiffKind.ONLY_B_WORKS: B_COLOR,
    DiffKind.ONLY_A_IN_RAM: A_LIGHT_COLOR,
    DiffKind.ONLY_B_IN_RAM: B_LIGHT_COLOR,
    DiffKind.DIFFERENT: "#505050",
}
DIFF_LABELS: dict[DiffKind, str] = {
    DiffKind.SAME_EMPTY: "same: not held",
    DiffKind.SAME_HELD: "same: held",
    DiffKind.SAME_WORK: "same: work",
    DiffKind.ONLY_A_WORKS: "only A works",
    DiffKind.ONLY_B_WORKS: "only B works",
    DiffKind.ONLY_A_IN_RAM: "only A in RAM",
    DiffKind.ONLY_B_IN_RAM: "only B in RAM",
    DiffKind.DIFFERENT: "other difference",
}
#: The map's legend: one entry for the three greys of agreement, then one per kind of difference, laid
#: out in as many rows as the timelines' legends so the three plots' views stay the same height (their
#: y axes are linked pixel for pixel).
_LEGEND: tuple[tuple[str, str], ...] = (
    (DIFF_COLORS[DiffKind.SAME_HELD], "same in both"),
    *((DIFF_COLORS[k], DIFF_LABELS[k]) for k in DiffKind if k >= DiffKind.ONLY_A_WORKS),
)


@dataclass(frozen=True)
class PlanDifference:
    """The cell-by-cell comparison of two plans.

    ``kinds`` holds :class:`DiffKind` codes indexed ``[stage, node]``; it is None when the plans cannot
    be compared cell by cell, and ``reason`` then says why.
    """

    kinds: np.ndarray | None
    reason: str = ""

    @property
    def cells(self) -> np.ndarray | None:
        """``(T, T)`` bools: where the two plans decide differently."""
        return None if self.kinds is None else self.kinds >= DiffKind.ONLY_A_WORKS

    @property
    def count(self) -> int | None:
        """How many cells differ (0: the same schedule), None when not comparable."""
        cells = self.cells
        return None if cells is None else int(cells.sum())

    @property
    def stage_count(self) -> int:
        cells = self.cells
        return 0 if cells is None else int(cells.any(axis=1).sum())

    @property
    def node_count(self) -> int:
        cells = self.cells
        return 0 if cells is None else int(cells.any(axis=0).sum())

    def kind_count(self, kind: DiffKind) -> int:
        return 0 if self.kinds is None else int((self.kinds == kind).sum())


def plan_difference(a: VerifiedPlan, b: VerifiedPlan) -> PlanDifference:
    """Compare the timeline cells of ``a`` and ``b`` (see :class:`DiffKind`)."""
    da, db = a.plan.decisions, b.plan.decisions
    if da is None or db is None:
        which = "A" if da is None else "B"
        return PlanDifference(None, f"plan {which} has no schedule ({(a if da is None else b).plan.status.value})")
    ga, gb = a.plan.problem.graph, b.plan.problem.graph
    if [(n.name, n.op, n.inputs) for n in ga.nodes] != [(n.name, n.op, n.inputs) for n in gb.nodes]:
        return PlanDifference(
            None, f"the plans are for different graphs ({ga.name}, {len(ga)} nodes; {gb.name}, {len(gb)} nodes)"
        )
    ca, cb = cell_states(da), cell_states(db)
    work_a, work_b = _WORK[ca], _WORK[cb]
    same = np.where(work_a, DiffKind.SAME_WORK, DiffKind.SAME_HELD)
    kinds = np.where(ca == CellState.EMPTY, DiffKind.SAME_EMPTY, same)
    ram_a, ram_b = ca == CellState.IN_RAM, cb == CellState.IN_RAM
    differ = ca != cb
    kinds = np.select(
        [
            ~differ,
            work_a & ~work_b,
            work_b & ~work_a,
            ram_a & ~work_b,
            ram_b & ~work_a,
        ],
        [kinds, DiffKind.ONLY_A_WORKS, DiffKind.ONLY_B_WORKS, DiffKind.ONLY_A_IN_RAM, DiffKind.ONLY_B_IN_RAM],
        default=DiffKind.DIFFERENT,
    )
    return PlanDifference(kinds.astype(np.uint8))


def stage_staircase(sim: SimResult) -> tuple[np.ndarray, np.ndarray]:
    """RAM after each operation as a staircase over stages: stage ``s`` spans ``[s - 0.5, s + 0.5)``,
    as its timeline column does, and its operations share that span equally. Two plans with different
    numbers of operations then line up stage by stage, and with the timelines."""
    stages = np.array([op.stage for op in sim.operations], dtype=float)
    n = len(stages)
    starts = np.flatnonzero(np.r_[True, np.diff(stages) != 0])
    counts = np.diff(np.r_[starts, n])
    width = 1.0 / np.repeat(counts, counts)
    left = stages - 0.5 + (np.arange(n) - np.repeat(starts, counts)) * width
    x = np.column_stack([left, left + width]).ravel()
    y = np.repeat(np.asarray(sim.ram_bytes, dtype=float), 2)
    return x, y


def _rgba(color: str) -> tuple[int, int, int, int]:
    return pg.mkColor(color).getRgb()


class DifferencePlot(PlotWithLegend):
    """The differences map: stages across, nodes down (as the timelines), one colour per :class:`DiffKind`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=BACKGROUND)
        plot = self.getPlotItem()
        style_plot(plot, "Where A and B differ")
        plot.showGrid(x=False, y=False)
        plot.setLabel("bottom", "stage")
        plot.setLabel("left", "node (tensor)")
        plot.getViewBox().invertY(True)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setLookupTable(np.array([_rgba(DIFF_COLORS[k]) for k in DiffKind], dtype=np.uint8))
        plot.addItem(self.image)
        self._note = pg.TextItem("", color=FOREGROUND, anchor=(0.5, 0.5))
        self._note.setFont(annotation_font())
        plot.addItem(self._note, ignoreBounds=True)
        legend = self.add_legend_below(columns=3)
        for color, label in _LEGEND:
            legend.addItem(Swatch(brush=color, pen="#808080"), label)

    def show_difference(self, difference: PlanDifference, n: int) -> None:
        """Draw ``difference`` over an ``n``-stage extent; a note replaces the map when not comparable."""
        if difference.kinds is None:
            self.image.clear()
            self._note.setText(f"No cell comparison:\n{difference.reason}")
        else:
            self.image.setImage(difference.kinds, autoLevels=False, levels=(0, len(DiffKind)))
            self.image.setRect(-0.5, -0.5, n, n)
            self._note.setText("")
        self._note.setPos((n - 1) / 2, (n - 1) / 2)


class CompareMemoryPlot(PlotWithLegend):
    """Both plans' RAM over the stages, with both budgets and both peaks, in the plans' colours."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=BACKGROUND, axisItems={"left": BytesAxis("left")})
        plot = self.getPlotItem()
        style_plot(plot, "RAM in use: A against B")
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setLabel("bottom", "stage (each stage's operations in schedule order)")
        plot.setLabel("left", "RAM in use")
        self._legend = self.add_legend_below(columns=2)  # inside, it would cover a budget's label
        self._curves: list[pg.PlotDataItem] = []
        self._budgets: list[pg.InfiniteLine] = []
        self._budget_labels: list[pg.InfLineLabel] = []
        self._peaks: list[pg.ScatterPlotItem] = []
        for k, color in enumerate((A_COLOR, B_COLOR)):
            curve = plot.plot(pen=pg.mkPen(color, width=2.2 if k == 0 else 1.8))
            budget = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine))
            label = pg.InfLineLabel(budget, text="", color=color)
            # InfLineLabel has no setter for its anchors (one per side of the view's centre): same both ways.
            label.anchors = [(0, 1), (0, 1)] if k == 0 else [(1, 1), (1, 1)]
            label.setFont(annotation_font())
            plot.addItem(budget, ignoreBounds=True)
            peak = pg.ScatterPlotItem(size=10, pen=pg.mkPen(FOREGROUND, width=1), brush=pg.mkBrush(color))
            peak.setZValue(5)
            plot.addItem(peak)
            self._curves.append(curve)
            self._budgets.append(budget)
            self._budget_labels.append(label)
            self._peaks.append(peak)
            self._legend.addItem(curve, "")

    def show_results(self, a: PinnedPlan, b: PinnedPlan) -> None:
        """Draw both plans (a plan without a schedule leaves its curve empty, its budget still shown)."""
        top = 1.0
        for k, (pin, letter) in enumerate(((a, "A"), (b, "B"))):
            sim = pin.result.sim
            budget = pin.result.plan.problem.activation_budget_bytes
            if sim is None:
                self._curves[k].setData([], [])
                self._peaks[k].setData([], [])
                text = f"{letter}: {pin.name} (no schedule)"
            else:
                x, y = stage_staircase(sim)
                self._curves[k].setData(x, y)
                peak = sim.peak_index  # the marker sits mid-step, on the operation that reaches the peak
                self._peaks[k].setData([(x[2 * peak] + x[2 * peak + 1]) / 2], [sim.peak_ram_bytes])
                text = f"{letter}: {pin.name} · peak {format_bytes(sim.peak_ram_bytes)}"
                top = max(top, sim.peak_ram_bytes)
            self._budgets[k].setPos(budget)
            self._budget_labels[k].setFormat(f"{letter} budget {format_bytes(budget)}")
            self._budget_labels[k].setPosition(0.02 if k == 0 else 0.98)
            self._legend.items[k][1].setText(text)
            top = max(top, budget)
        self.fit_legends()
        n = max(len(a.result.plan.problem.graph), len(b.result.plan.problem.graph))
        self.getPlotItem().getViewBox().setRange(xRange=(-0.5, n - 0.5), yRange=(0, 1.25 * top), padding=0)


class CompareView(QDialog):
    """Compare any two of ``plans`` (the window's pinned plans and the plan on show)."""

    def __init__(self, plans: Sequence[PinnedPlan], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare plans")
        self._plans: tuple[PinnedPlan, ...] = ()
        self._shown: tuple[PinnedPlan, PinnedPlan] | None = None
        self._updating = False
        self.difference: PlanDifference | None = None

        self._combos = (QComboBox(), QComboBox())
        header = QHBoxLayout()
        for combo, letter, color in zip(self._combos, "AB", (A_COLOR, B_COLOR), strict=True):
            label = QLabel(f"<span style='color:{color}; font-size:15pt'>■</span> <b>{letter}</b>")
            combo.setMinimumContentsLength(28)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setToolTip(f"The plan shown as {letter}")
            combo.currentIndexChanged.connect(self._on_combo_currentIndexChanged)
            header.addWidget(label)
            header.addWidget(combo)
        swap = QPushButton("Swap")
        swap.setToolTip("Exchange A and B")
        swap.clicked.connect(self._on_swap_clicked)
        self._fade = QCheckBox("Wash out cells the plans share")
        self._fade.setToolTip("Leave only the cells where A and B decide differently in full colour")
        self._fade.setChecked(QSettings().value("compare/fade_shared", True, type=bool))
        self._fade.toggled.connect(self._on_fade_toggled)
        save = QPushButton("Save image…")
        save.setToolTip("Save this comparison as a PNG picture")
        save.clicked.connect(self._on_save_clicked)
        header.addWidget(swap)
        header.addStretch(1)
        header.addWidget(self._fade)
        header.addWidget(save)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        font = QFont(self.summary.font())
        font.setPointSize(font.pointSize() + 2)
        self.summary.setFont(font)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.timelines = (TimelinePlot(), TimelinePlot())
        self._overlays = (pg.ImageItem(axisOrder="col-major"), pg.ImageItem(axisOrder="col-major"))
        for timeline, overlay in zip(self.timelines, self._overlays, strict=True):
            overlay.setZValue(10)  # over the cells, under nothing else: the legend sits outside the view
            timeline.getPlotItem().addItem(overlay)
        self.differences = DifferencePlot()
        self.memory = CompareMemoryPlot()
        first = self.timelines[0]
        for plot in (self.timelines[1], self.differences):
            plot.setXLink(first)
            plot.setYLink(first)
        self.differences.scene().sigMouseMoved.connect(self._on_differences_mouse_moved)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["A", "B", "B - A"])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for column, color in ((0, A_COLOR), (1, B_COLOR)):
            self.table.horizontalHeaderItem(column).setForeground(QBrush(QColor(color)))

        top = QSplitter(Qt.Orientation.Horizontal)
        for plot in (*self.timelines, self.differences):
            top.addWidget(plot)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.memory)
        bottom.addWidget(self.table)
        bottom.setSizes([900, 600])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(top)
        body.addWidget(bottom)
        body.setSizes([560, 380])
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.summary)
        layout.addWidget(body, 1)

        geometry = QSettings().value("compare/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 950)
        self.set_plans(plans)

    # --- choosing --------------------------------------------------------------------------------
    def set_plans(self, plans: Sequence[PinnedPlan], a: int | None = None, b: int | None = None) -> None:
        """Offer ``plans``; show ``a`` against ``b`` (by default keep the plans on show, by name)."""
        names = [self._combo_name(combo) for combo in self._combos]
        self._plans = tuple(plans)
        self._updating = True
        try:
            for combo in self._combos:
                combo.clear()
                for pin in self._plans:
                    combo.addItem(pin.name)
                    combo.setItemData(combo.count() - 1, self._describe(pin), Qt.ItemDataRole.ToolTipRole)
            defaults = (0, min(1, len(self._plans) - 1))
            for combo, wanted, name, default in zip(self._combos, (a, b), names, defaults, strict=True):
                index = wanted if wanted is not None else combo.findText(name) if name else -1
                combo.setCurrentIndex(index if index >= 0 else default)
        finally:
            self._updating = False
        self._show()

    def compare(self, a: int, b: int) -> None:
        """Show plan ``a`` against plan ``b`` (indices into the plans on offer)."""
        self.set_plans(self._plans, a, b)

    def save_image(self, path: Path) -> None:
        """Write what the view shows as a PNG, atomically (a :class:`PoetError` names the file on failure)."""
        write_bytes_atomic(Path(path), widget_png(self))

    # --- drawing ---------------------------------------------------------------------------------
    def _show(self) -> None:
        if self._updating:
            return
        ia, ib = (combo.currentIndex() for combo in self._combos)
        if not (0 <= ia < len(self._plans) and 0 <= ib < len(self._plans)):
            self.difference = None
            self._shown = None
            self.summary.setText("Pin plans to compare them (Plan ▸ Pin current plan).")
            return
        a, b = self._plans[ia], self._plans[ib]
        self._shown = (a, b)
        self.setWindowTitle(f"Compare plans: {a.name} vs {b.name}")
        for timeline, pin, letter, color in zip(self.timelines, (a, b), "AB", (A_COLOR, B_COLOR), strict=True):
            timeline.show_plan(pin.result.plan.problem, pin.result.plan.decisions)
            timeline.getPlotItem().setTitle(f"<b>{letter}</b>: {pin.name}", color=color, size="11pt")
        n = max(len(a.result.plan.problem.graph), len(b.result.plan.problem.graph))
        self.difference = plan_difference(a.result, b.result)
        self.differences.show_difference(self.difference, len(a.result.plan.problem.graph))
        self._show_overlays()
        self.memory.show_results(a, b)
        self.timelines[0].getPlotItem().getViewBox().setRange(xRange=(-0.5, n - 0.5), yRange=(-0.5, n - 0.5))
        self._show_table(a, b)
        self.summary.setText(self._summary(a, b))

    def _show_overlays(self) -> None:
        """Wash out the shared cells of both timelines (or nothing, if the user turned it off)."""
        cells = None if self.difference is None else self.difference.cells
        for overlay in self._overlays:
            if cells is None or not self._fade.isChecked():
                overlay.clear()
                continue
            rgba = np.zeros((*cells.shape, 4), dtype=np.uint8)
            rgba[~cells] = (255, 255, 255, FADE_ALPHA)
            overlay.setImage(rgba, autoLevels=False, levels=(0, 255))
            overlay.setRect(-0.5, -0.5, cells.shape[0], cells.shape[1])

    def _summary(self, a: PinnedPlan, b: PinnedPlan) -> str:
        """Two lines: how many cells differ and how, then every figure that changes from A to B."""
        d = self.difference
        assert d is not None
        if d.count is None:
            cells = f"<b>No cell-by-cell comparison:</b> {d.reason}."
        elif d.count == 0:
            cells = "<b>A and B make the same decision in every cell.</b>"
        else:
            assert d.kinds is not None
            kinds = [
                f"<span style='color:{DIFF_COLORS[kind]}'>■</span> {n} {DIFF_LABELS[kind]}"
                for kind in DiffKind
                if kind >= DiffKind.ONLY_A_WORKS and (n := d.kind_count(kind))
            ]
            cells = (
                f"<b>A and B differ in {d.count} of {d.kinds.size} cells</b> "
                f"({d.stage_count} stages, {d.node_count} nodes): {' · '.join(kinds)}"
            )
        changes = []
        for figure in FIGURES:
            text = difference_text(figure, figure.value(a.result), figure.value(b.result))
            if text not in ("same", "—"):
                changes.append(f"{figure.label} <b>{unbroken(text)}</b>")
        figures = f"B vs A: {' · '.join(changes)}" if changes else "Both plans have the same figures."
        return f"{cells}<br>{figures}"

    def _show_table(self, a: PinnedPlan, b: PinnedPlan) -> None:
        rows: list[tuple[str, str, str, str]] = []
        for figure in (*FIGURES, *BUDGET_FIGURES):
            va, vb = figure.value(a.result), figure.value(b.result)
            show = figure.show
            rows.append((figure.label, "—" if va is None else show(va), "—" if vb is None else show(vb),
                         difference_text(figure, va, vb)))  # fmt: skip
        for label, text in (
            ("Status", lambda r: r.plan.status.value),
            ("Gap", gap_text),
            ("Strategy", lambda r: r.plan.strategy),
            ("Device", lambda r: r.plan.problem.profile.key),
            ("Model", lambda r: f"{r.plan.problem.graph.name} ({len(r.plan.problem.graph)} nodes)"),
            ("Switches", switches_text),
        ):
            ta, tb = text(a.result), text(b.result)
            rows.append((label, ta, tb, "same" if ta == tb else "differs"))
        self.table.setRowCount(len(rows))
        self.table.setVerticalHeaderLabels([row[0] for row in rows])
        for r, (_, ta, tb, diff) in enumerate(rows):
            is_different = diff not in ("same", "—")
            for c, text in enumerate((ta, tb, diff)):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if is_different:
                    item.setBackground(QBrush(QColor(DIFFERENT_ROW_COLOR)))
                    if c == 2:
                        font = QFont(item.font())
                        font.setBold(True)
                        item.setFont(font)
                self.table.setItem(r, c, item)

    @staticmethod
    def _describe(pin: PinnedPlan) -> str:
        p = pin.result.plan.problem
        return (
            f"{p.graph.name} on {p.profile.key}, RAM budget {format_bytes(p.ram_budget_bytes)}, "
            f"runtime {p.runtime_factor:g}×, {switches_text(pin.result)}"
        )

    @staticmethod
    def _combo_name(combo: QComboBox) -> str:
        return combo.currentText() if combo.currentIndex() >= 0 else ""

    # --- user input ------------------------------------------------------------------------------
    @Slot(int)
    def _on_combo_currentIndexChanged(self, _index: int) -> None:
        self._show()

    @Slot()
    def _on_swap_clicked(self) -> None:
        a, b = (combo.currentIndex() for combo in self._combos)
        self.compare(b, a)

    @Slot(bool)
    def _on_fade_toggled(self, is_on: bool) -> None:
        QSettings().setValue("compare/fade_shared", is_on)
        self._show_overlays()

    @Slot()
    def _on_save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save comparison", "comparison.png", "PNG images (*.png)")
        if not path:
            return
        try:
            self.save_image(Path(path))
        except PoetError as exc:
            QMessageBox.critical(self, "Save failed", str(exc))

    def _on_differences_mouse_moved(self, pos: QPointF) -> None:
        view = self.differences.getPlotItem().getViewBox()
        text = ""
        if view.sceneBoundingRect().contains(pos) and self._shown is not None:
            point = view.mapSceneToView(pos)
            stage, node = round(point.x()), round(point.y())
            a, b = (timeline.action_at(stage, node) for timeline in self.timelines)
            if a and b:
                name = self._shown[0].result.plan.problem.graph.nodes[node].name
                text = f"stage {stage} · {name}\nA: {a}\nB: {b}"
        if text:
            QToolTip.showText(QCursor.pos(), text, self.differences)
        else:
            QToolTip.hideText()

    def done(self, result: int) -> None:  # Qt override: keep the dialog's size and place for next time
        QSettings().setValue("compare/geometry", self.saveGeometry())
        super().done(result)
