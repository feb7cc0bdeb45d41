"""File ▸ Open of a fleet CSV, and a click in the Fleet window planning that point in the main window.

The table is read and checked by the core (:func:`~poet_gui.core.sweep.fleet_csv.read_fleet_csv`):
a malformed one is refused in a dialog naming the file and line, and neither window changes. A
clicked point becomes a new session of the main window (its model, device, RAM budget, runtime
factor and switches; the solver options stay the window's, since the table does not record them),
which then solves as after any change of model: the table's figures are the sweep's, the window's
plan is its own, re-checked by the simulator like every other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QMainWindow, QMessageBox

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.errors import PoetError
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.sweep.fleet_csv import FLEET_COLUMNS, FleetRow, is_fleet_csv, read_fleet_csv
from poet_gui.core.sweep.fleet_point import point_model
from poet_gui.ui.fleet_view import FleetView
from poet_gui.ui.state import AppState, ModelSource, Session, session_for


class Sessions(Protocol):
    """What loading a point needs of the main window: to start a session and name its document."""

    def start_session(self, session: Session) -> None: ...
    def set_document(self, path: Path | None) -> None: ...


class FleetController(QObject):
    """Owns the Fleet window (made on the first fleet table opened, a child window of the main one,
    so it goes when the main window goes) and plans its clicked points."""

    def __init__(self, state: AppState, window: QMainWindow, sessions: Sessions) -> None:
        super().__init__(window)
        self._state = state
        self._window = window
        self._sessions = sessions
        self._table: Path | None = None
        self.view: FleetView | None = None

    def open_fleet(self, path: Path) -> bool:
        """Show the fleet table ``path`` in the Fleet window; a file that is not one, or a malformed
        one, is refused in a dialog naming the file and line, and nothing changes."""
        path = Path(path)
        try:
            if not is_fleet_csv(path):
                columns = ",".join(FLEET_COLUMNS)
                raise PoetError(f"{path}: line 1: not a fleet sweep CSV (its columns must be {columns})")
            rows = read_fleet_csv(path)
            if not rows:
                raise PoetError(f"{path}: the fleet table has no points yet (only its header)")
        except PoetError as exc:
            QMessageBox.warning(self._window, "Cannot open this fleet table", str(exc))
            return False
        if self.view is None:
            self.view = FleetView(self._window)
            self.view.point_chosen.connect(self._on_view_point_chosen)
        self._table = path
        self.view.show_table(path, rows)
        self.view.show()
        self.view.raise_()
        return True

    def load_point(self, row: FleetRow) -> bool:
        """Plan ``row``'s problem in the main window. A model file or device profile that cannot be
        found or read is reported in a dialog naming it, and the main window stays as it was."""
        assert self._table is not None, "a point comes from an open table"
        try:
            found = point_model(row, self._table)
            model = ModelSource(zoo_name=found.zoo_name, params=found.params, graph_path=found.graph_path,
                                dims=found.dims)  # fmt: skip
            profile = load_profile(row.profile)
            switches = Switches(paging=row.paging, remat=row.remat, count_paging_time=row.count_paging_time,
                                budget_includes_params=row.budget_includes_params)  # fmt: skip
            session = session_for(
                model, model.load(), profile, ram_budget_bytes=row.ram_budget_bytes,
                runtime_factor=row.runtime_factor, switches=switches, options=self._state.session.options,
            )  # fmt: skip
        except PoetError as exc:
            QMessageBox.warning(self._window, "Cannot plan this point", str(exc))
            return False
        self._sessions.start_session(session)
        self._sessions.set_document(None)
        self._window.raise_()
        self._window.activateWindow()
        return True

    @Slot(object)
    def _on_view_point_chosen(self, row: FleetRow) -> None:
        self.load_point(row)
