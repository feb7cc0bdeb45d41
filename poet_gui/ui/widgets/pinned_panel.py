"""The plans the user keeps: one row per pinned plan with its key figures, to compare and hand on.

The panel shows the window's tuple of :class:`~poet_gui.core.files.workspace.PinnedPlan` and turns clicks
into requests (compare, remove, rename); the window owns the tuple and answers by showing a new one.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from poet_gui.core.files.workspace import PinnedPlan
from poet_gui.ui.plan_figures import FIGURES, gap_text, inputs_text, status_text

_COLUMNS = ("Name", *(f.label for f in FIGURES), "Status", "Gap", "Made for")
_TIPS = (
    "Double-click to rename",
    *(f.tip for f in FIGURES),
    "Optimal = proven by the solver; feasible = verified, not proven optimal",
    "Proven distance to the optimal energy (— when the solver proved no bound)",
    "Model · device · RAM budget · runtime budget",
)


class PinnedPanel(QWidget):
    """A table of pinned plans with Pin, Compare, Export and Remove buttons.

    :attr:`compare_requested` asks to compare; the window reads :meth:`selected_rows` (none, one or
    two) to decide what with.
    """

    pin_requested = Signal()
    compare_requested = Signal()
    export_requested = Signal(int)  # row
    remove_requested = Signal(object)  # tuple[int, ...]
    rename_requested = Signal(int, str)  # row, new name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(_COLUMNS)
        for column, tip in enumerate(_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemChanged.connect(self._on_table_itemChanged)
        self.table.itemSelectionChanged.connect(self._on_table_itemSelectionChanged)
        self._empty = QLabel("No pinned plans yet: Plan ▸ Pin current plan (Ctrl+P) keeps the plan on show.")
        self._empty.setWordWrap(True)

        self._pin = QPushButton("Pin current")
        self._pin.setToolTip("Keep the plan on show under a name (Ctrl+P)")
        self._pin.clicked.connect(self.pin_requested)
        self._compare = QPushButton("Compare…")
        self._compare.setToolTip("Compare the two selected plans (one selected: with the plan on show)")
        self._compare.clicked.connect(self.compare_requested)
        self._export = QPushButton("Export plan…")
        self._export.setToolTip("Save the selected plan as a plan file, to hand on")
        self._export.clicked.connect(lambda: self.export_requested.emit(self.selected_rows()[0]))
        self._remove = QPushButton("Remove")
        self._remove.setToolTip("Unpin the selected plans")
        self._remove.clicked.connect(lambda: self.remove_requested.emit(self.selected_rows()))
        buttons = QHBoxLayout()
        for button in (self._pin, self._compare, self._export, self._remove):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addWidget(self._empty)
        layout.addWidget(self.table, 1)
        self.show_pins(())

    def show_pins(self, pins: Sequence[PinnedPlan]) -> None:
        """Fill one row per pin (rows keep their selection where the row still exists)."""
        self._updating = True
        try:
            self.table.setRowCount(len(pins))
            for row, pin in enumerate(pins):
                cells = [pin.name]
                cells += ["—" if (v := f.value(pin.result)) is None else f.show(v) for f in FIGURES]
                cells += [status_text(pin.result), gap_text(pin.result), inputs_text(pin.result)]
                for column, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    if column == 0:
                        item.setToolTip(f"{pin.name}: double-click to rename")
                        font = QFont(item.font())
                        font.setBold(True)
                        item.setFont(font)
                    else:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                        if 0 < column <= len(FIGURES):
                            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(row, column, item)
        finally:
            self._updating = False
        self._empty.setVisible(not pins)
        self._on_table_itemSelectionChanged()

    def selected_rows(self) -> tuple[int, ...]:
        return tuple(sorted({index.row() for index in self.table.selectionModel().selectedRows()}))

    def select_rows(self, rows: Sequence[int]) -> None:
        """Select exactly ``rows`` (scripts and tests drive the panel as a user would)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in rows:
            self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    @Slot()
    def _on_table_itemSelectionChanged(self) -> None:
        count = self.table.rowCount()
        self._compare.setEnabled(count >= 2 or (count >= 1 and len(self.selected_rows()) == 1))
        self._export.setEnabled(len(self.selected_rows()) == 1)
        self._remove.setEnabled(bool(self.selected_rows()))

    @Slot(QTableWidgetItem)
    def _on_table_itemChanged(self, item: QTableWidgetItem) -> None:
        if not self._updating and item.column() == 0:
            self.rename_requested.emit(item.row(), item.text())
