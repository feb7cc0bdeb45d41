"""The Fleet window: a fleet sweep's table (File ▸ Open a fleet CSV) as the CLI report shows it.

Per model (the selector at the top), energy against RAM budget with one curve per device, and below
it the cheapest device that fits each model: its least RAM, the chosen budget and the energy there,
the figures of ``sweep --report``'s ``fleet.md`` (both come from
:func:`~poet_gui.core.sweep.fleet_summary.fleet_summary`). The window only shows the rows it is
given; a click on a point is passed on (``point_chosen``) for the main window to plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.sweep.fleet_csv import FleetRow, model_labels, sort_rows
from poet_gui.core.sweep.fleet_summary import DeviceChoice, cheapest_per_model, choice_cells
from poet_gui.ui.plots.fleet_plot import FleetPlot

#: The table's columns: those of the report's "Cheapest device that fits, per model".
TABLE_COLUMNS = ("model", "runtime factor", "device", "least RAM", "chosen budget", "energy", "status")


class FleetView(QWidget):
    """A top-level window over one fleet table: a model selector, its chart, and the cheapest devices."""

    point_chosen = Signal(object)  # FleetRow

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("fleet_view")
        self._rows: tuple[FleetRow, ...] = ()
        self._labels: dict[tuple[str, str, bool, bool, bool, bool], str] = {}
        self._choices: list[DeviceChoice] = []
        self.models = QComboBox()
        self.models.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.models.currentIndexChanged.connect(self._on_models_current_index_changed)
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Model:"))
        bar.addWidget(self.models)
        bar.addWidget(self.counts, 1)

        self.plot = FleetPlot()
        self.plot.point_clicked.connect(self.point_chosen)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellClicked.connect(self._on_table_cell_clicked)
        below = QWidget()
        below_column = QVBoxLayout(below)
        below_column.setContentsMargins(0, 0, 0, 0)
        self._heading = heading = QLabel(
            "<b>Cheapest device that fits, per model</b> (the plan and its parameters fit the device's RAM)"
        )
        heading.setWordWrap(True)
        below_column.addWidget(heading)
        below_column.addWidget(self.table)
        self._splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plot)
        splitter.addWidget(below)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        self._is_split_by_user = False  # once the user drags the divider, resizing keeps their choice
        splitter.splitterMoved.connect(self._on_splitter_splitter_moved)
        column = QVBoxLayout(self)
        column.addLayout(bar)
        column.addWidget(splitter, 1)
        self.resize(1000, 680)

    @property
    def rows(self) -> tuple[FleetRow, ...]:
        return self._rows

    def show_table(self, path: Path, rows: Sequence[FleetRow]) -> None:
        """Show the rows of the fleet table ``path``; the model on show stays chosen if the new table has it."""
        self._rows = tuple(sort_rows(rows))
        self.setWindowTitle(f"Fleet: {Path(path).name} — POET Studio")
        shown = self.models.currentText()
        self._labels = model_labels(self._rows)
        names = list(dict.fromkeys(self._labels[r.variant] for r in self._rows))
        self.models.blockSignals(True)
        self.models.clear()
        self.models.addItems(names)
        self.models.setCurrentIndex(names.index(shown) if shown in names else 0)
        self.models.blockSignals(False)
        self._choices = cheapest_per_model(self._rows)
        self.table.setRowCount(len(self._choices))
        for i, choice in enumerate(self._choices):
            for j, text in enumerate((choice.model, *choice_cells(choice))):
                item = QTableWidgetItem(text)
                if 3 <= j < len(TABLE_COLUMNS) - 1:  # figures right-aligned, words left
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        self._fit_table()
        self._show_model()

    def _fit_table(self) -> None:
        """Give the table the height of its rows (at most two fifths of the window), the chart the rest."""
        rows_px = sum(self.table.rowHeight(i) for i in range(self.table.rowCount()))
        wanted = self._heading.sizeHint().height() + self.table.horizontalHeader().height() + rows_px + 8
        total = sum(self._splitter.sizes()) or self.height()  # no sizes before the first layout
        below = min(wanted, total * 2 // 5)
        self._splitter.setSizes([total - below, below])

    def resizeEvent(self, event: QResizeEvent) -> None:  # Qt override
        super().resizeEvent(event)
        if not self._is_split_by_user:
            self._fit_table()

    def show_model(self, model: str) -> None:
        """Chart ``model`` (a name from the table)."""
        self.models.setCurrentText(model)

    def _show_model(self) -> None:
        model = self.models.currentText()
        mine = [r for r in self._rows if self._labels.get(r.variant) == model]
        self.plot.show_rows(mine, f"{model}: energy against RAM budget")
        optimal = sum(r.status == SolveStatus.OPTIMAL for r in mine)
        planned = sum(r.has_plan for r in mine)
        devices = len({r.profile for r in mine})
        self.counts.setText(
            f"{len(mine)} points on {devices} device{'s' if devices != 1 else ''}: {optimal} optimal, "
            f"{planned - optimal} unproven, {len(mine) - planned} without a plan (not drawn). "
            "Click a point to plan it in the main window."
        )
        for i, choice in enumerate(self._choices):
            for j in range(len(TABLE_COLUMNS)):
                item = self.table.item(i, j)
                font = item.font()
                font.setBold(choice.model == model)
                item.setFont(font)

    @Slot(int)
    def _on_models_current_index_changed(self, _index: int) -> None:
        self._show_model()

    @Slot(int, int)
    def _on_splitter_splitter_moved(self, _pos: int, _index: int) -> None:
        self._is_split_by_user = True

    @Slot(int, int)
    def _on_table_cell_clicked(self, row: int, _column: int) -> None:
        self.show_model(self._choices[row].model)
