"""The plans the user pinned, and the compare view that sets two of them side by side.

Pins are a tuple of :class:`~poet_gui.core.files.workspace.PinnedPlan`, replaced whole on every change,
so a workspace snapshot or the compare view never sees one half-edited. They outlive changes of model
and device, because comparing plans across them is what pins are for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QDockWidget, QInputDialog, QMainWindow, QMessageBox

from poet_gui.core.files.workspace import PinnedPlan, unique_name
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan
from poet_gui.ui.compare_view import CompareView
from poet_gui.ui.plan_figures import inputs_text
from poet_gui.ui.state import AppState
from poet_gui.ui.widgets.pinned_panel import PinnedPanel

#: Height (pixels) the pinned plans' panel opens at: a few rows of the table.
PINNED_DOCK_HEIGHT = 170
#: The name the plan on show goes by in the compare view (it may or may not be pinned too).
CURRENT_PLAN_NAME = "plan on show"

#: Asks where to save a plan file named after a pin (None: the user cancelled).
AskPlanPath = Callable[[str], "Path | None"]
#: Writes a plan file; True when it was written (a failure was already reported).
ExportPlan = Callable[[Path, VerifiedPlan, SolverOptions], bool]


class PinsController(QObject):
    """Pins the plan on show, keeps the pinned panel and the compare view up to date."""

    pins_changed = Signal(object)  # tuple[PinnedPlan, ...]

    def __init__(
        self, state: AppState, window: QMainWindow, panel: PinnedPanel, dock: QDockWidget,
        ask_plan_path: AskPlanPath, export_plan: ExportPlan,
    ) -> None:  # fmt: skip
        super().__init__(window)
        self._state = state
        self._window = window
        self._panel = panel
        self._dock = dock
        self._ask_plan_path = ask_plan_path
        self._export_plan = export_plan
        self._pinned: tuple[PinnedPlan, ...] = ()
        self.compare_view: CompareView | None = None
        panel.pin_requested.connect(self.pin_current_dialog)
        panel.compare_requested.connect(self.compare_plans_action)
        panel.export_requested.connect(self._on_panel_export_requested)
        panel.remove_requested.connect(self._on_panel_remove_requested)
        panel.rename_requested.connect(self._on_panel_rename_requested)

    @property
    def pinned(self) -> tuple[PinnedPlan, ...]:
        return self._pinned

    def set_pins(self, pins: Sequence[PinnedPlan]) -> None:
        """Replace every pin (a workspace opened); the panel opens when there are any to show."""
        self._pinned = tuple(pins)
        self._panel.show_pins(self._pinned)
        if self._pinned:
            self._show_dock()
        self.refresh_compare_view()
        self.pins_changed.emit(self._pinned)

    def pin_current(self, name: str | None = None) -> PinnedPlan | None:
        """Keep the plan on show under ``name`` (made unique; default: what it was made for)."""
        s = self._state.session
        if s.result is None:
            QMessageBox.information(self._window, "Nothing to pin", "There is no plan to pin yet.")
            return None
        taken = {p.name for p in self._pinned}
        pin = PinnedPlan(unique_name(name or inputs_text(s.result), taken), s.result, s.options)
        self.set_pins((*self._pinned, pin))
        return pin

    @Slot()
    def pin_current_dialog(self) -> None:
        result = self._state.session.result
        if result is None:
            QMessageBox.information(self._window, "Nothing to pin", "There is no plan to pin yet.")
            return
        default = unique_name(inputs_text(result), {p.name for p in self._pinned})
        dialog = QInputDialog(self._window)
        dialog.setWindowTitle("Pin current plan")
        dialog.setLabelText("Name of the plan:")
        dialog.setTextValue(default)
        dialog.setMinimumWidth(360)  # room for the title and a plan's default name
        if dialog.exec():
            self.pin_current(dialog.textValue())

    def compare_plans(self, a: int | None = None, b: int | None = None) -> CompareView | None:
        """Open (or raise) the compare view on plans ``a`` and ``b``: indices into the pinned plans, where
        ``len(pinned)`` is the plan on show. By default: the two selected pins, one selected pin against
        the plan on show, else the two latest pins."""
        plans = self._comparable_plans()
        if len(plans) < 2:
            QMessageBox.information(
                self._window, "Nothing to compare",
                "Pin a plan (Ctrl+P), change the budgets, device or switches, then compare.",
            )  # fmt: skip
            return None
        if a is None or b is None:
            a, b = self._default_pair(self._panel.selected_rows(), len(plans))
        if self.compare_view is None:
            self.compare_view = CompareView((), self._window)
        self.compare_view.set_plans(plans, a, b)
        self.compare_view.show()
        self.compare_view.raise_()
        return self.compare_view

    @Slot()
    def compare_plans_action(self) -> None:
        """The menu's and the panel's Compare: the default pair."""
        self.compare_plans()

    def refresh_compare_view(self) -> None:
        if self.compare_view is not None and self.compare_view.isVisible():
            self.compare_view.set_plans(self._comparable_plans())

    def close(self) -> None:
        if self.compare_view is not None:
            self.compare_view.close()

    def _show_dock(self) -> None:
        if self._dock.isHidden():
            self._dock.show()
            # Room for a few rows; the dock's size hint (a table's) would take a third of the window.
            self._window.resizeDocks([self._dock], [PINNED_DOCK_HEIGHT], Qt.Orientation.Vertical)

    def _comparable_plans(self) -> list[PinnedPlan]:
        plans = list(self._pinned)
        s = self._state.session
        if s.result is not None:
            plans.append(PinnedPlan(unique_name(CURRENT_PLAN_NAME, {p.name for p in plans}), s.result, s.options))
        return plans

    def _default_pair(self, selected: tuple[int, ...], count: int) -> tuple[int, int]:
        pins = len(self._pinned)
        if len(selected) >= 2:
            return selected[0], selected[1]
        if len(selected) == 1 and pins < count:
            return selected[0], pins
        if pins >= 2:
            return pins - 2, pins - 1
        return 0, count - 1

    @Slot(int)
    def _on_panel_export_requested(self, row: int) -> None:
        pin = self._pinned[row]
        path = self._ask_plan_path(pin.name)
        if path is not None:
            self._export_plan(path, pin.result, pin.options)

    @Slot(object)
    def _on_panel_remove_requested(self, rows: tuple[int, ...]) -> None:
        self.set_pins([pin for k, pin in enumerate(self._pinned) if k not in rows])

    @Slot(int, str)
    def _on_panel_rename_requested(self, row: int, name: str) -> None:
        others = {p.name for k, p in enumerate(self._pinned) if k != row}
        pins = list(self._pinned)
        pins[row] = replace(pins[row], name=unique_name(name, others))
        self.set_pins(pins)
