"""What File ▸ Open, Save and Export do: read and write graph, plan, workspace, CSV and image files
(a fleet sweep's CSV opens in the Fleet window, :mod:`~poet_gui.ui.fleet_controller`).

Each action is a method that takes a path (scripts and tests call these directly) and a ``*_dialog``
twin that asks for the path first. A file that cannot be used is reported in a dialog naming the
file and field, and the window stays as it was. Plans and workspaces are re-checked by the simulator
on the GUI thread: that takes tens of milliseconds even for the largest zoo model (a resnet50 plan:
about 40 ms), under a wait cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QSettings, Qt, Slot
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMainWindow, QMessageBox, QWidget

from poet_gui.core.errors import PoetError
from poet_gui.core.files import plan_io, workspace
from poet_gui.core.files.plan_io import read_plan, save_plan
from poet_gui.core.files.schedule_export import write_operations_csv
from poet_gui.core.files.workspace import Workspace, file_format, plan_mismatch, read_workspace
from poet_gui.core.model.onnx_import import load_onnx_graph, symbolic_dimensions
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan
from poet_gui.core.sweep.fleet_csv import is_fleet_csv
from poet_gui.ui.exports import save_plot_images
from poet_gui.ui.fleet_controller import FleetController
from poet_gui.ui.pins_controller import PinsController
from poet_gui.ui.recent_files import forget, remember
from poet_gui.ui.state import AppState, ModelSource, Session, SolvePhase, session_for

#: File dialog filters: File ▸ Open tells graph, plan and workspace JSON apart by the format field,
#: and a fleet table by its header.
OPEN_FILTER = (
    "Models and POET files (*.onnx *.json *.csv);;ONNX models (*.onnx);;Graph, plan or workspace (*.json);;"
    "Fleet sweep tables (*.csv);;All files (*)"
)
WORKSPACE_FILTER = "POET workspaces (*.poet.json *.json);;All files (*)"


class Sessions(Protocol):
    """What the file actions need of the window: to show a new model or session, and name the file."""

    def rebuild(self, model: ModelSource) -> bool: ...
    def start_session(self, session: Session) -> None: ...
    def set_document(self, path: Path | None) -> None: ...
    def plots(self) -> dict[str, QWidget]: ...


@contextmanager
def _busy() -> Iterator[None]:
    """A wait cursor over file work the user waits for: re-checking or writing a workspace of resnet50
    plans takes a few tenths of a second (one plan: about 40 ms to read, 130 ms to write)."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()


class FileController(QObject):
    """Opens, saves and exports on behalf of the window ``sessions``, whose dialogs parent to ``window``."""

    def __init__(self, state: AppState, window: QMainWindow, sessions: Sessions, pins: PinsController) -> None:
        super().__init__(window)
        self._state = state
        self._window = window
        self._sessions = sessions
        self._pins = pins
        self.fleet = FleetController(state, window, sessions)

    # --- opening ---------------------------------------------------------------------------------
    def open_path(self, path: Path) -> bool:
        """Open a graph, plan or workspace file (told apart by its ``format`` field) or a fleet table (by
        its header, or any ``.csv``: a malformed one is refused naming its line) and remember it in
        File ▸ Open recent."""
        path = Path(path)
        if not path.is_file():  # before guessing its kind: a missing plan is not a "missing graph"
            self._warn("Cannot open this file", f"{path}: no such file")
            forget(path)
            return False
        kind = file_format(path)
        if path.suffix.lower() == ".csv" or is_fleet_csv(path):
            is_opened = self.fleet.open_fleet(path)
        elif path.suffix.lower() == ".onnx":
            is_opened = self.open_onnx(path)
        elif kind == plan_io.FORMAT:
            is_opened = self.open_plan(path)
        elif kind == workspace.FORMAT:
            is_opened = self.open_workspace(path)
        elif kind is not None:
            self._warn(
                "Cannot open this file",
                f"{path}: not a graph, plan or workspace file (its format is {kind!r}; expected "
                f"{plan_io.FORMAT!r}, {workspace.FORMAT!r} or a graph without a format field)",
            )
            return False
        else:
            is_opened = self.open_graph(path)
        if is_opened:
            remember(path)
        return is_opened

    def open_onnx(self, path: Path, dims: dict[str, int] | None = None) -> bool:
        """Import an ONNX model. Symbolic dimensions (batch, sequence length) are asked for, never
        guessed; operators without a cost rule are listed so the user knows what is estimated."""
        try:
            names = symbolic_dimensions(path)
            if names and dims is None:
                dims = self._ask_dimensions(path, names)
                if dims is None:
                    return False
            with _busy():
                imported = load_onnx_graph(path, dims=dims)
        except PoetError as exc:
            self._warn("Cannot import this model", str(exc))
            return False
        source = ModelSource(zoo_name=None, graph_path=str(path), dims=tuple(sorted((dims or {}).items())))
        if not self._sessions.rebuild(source):
            return False
        self._sessions.set_document(None)
        if imported.warnings:
            QMessageBox.information(self._window, "Imported with estimates", "\n".join(imported.warnings))
        return True

    def open_graph(self, path: Path) -> bool:
        """Open a graph file; a bad file is reported in a dialog and the current model stays."""
        if not self._sessions.rebuild(ModelSource(zoo_name=None, graph_path=str(path))):
            return False
        self._sessions.set_document(None)
        return True

    def open_plan(self, path: Path) -> bool:
        """Show the plan of a plan file with its model, device and budgets, after the simulator re-checked
        it; an altered or malformed file is refused in a dialog naming the step or field and why."""
        try:
            with _busy():
                loaded = read_plan(path)
        except PoetError as exc:
            self._warn("Cannot open this plan", str(exc))
            return False
        result = loaded.result
        p = result.plan.problem
        session = session_for(
            ModelSource(zoo_name=None, graph_path=str(path)), p.graph, p.profile,
            ram_budget_bytes=p.ram_budget_bytes, runtime_factor=p.runtime_factor, switches=p.switches,
            options=loaded.options or self._state.session.options,
        )  # fmt: skip
        self._sessions.start_session(
            replace(session, result=result, phase=SolvePhase.DONE, message=result.plan.message)
        )
        self._sessions.set_document(Path(path))
        return True

    def open_workspace(self, path: Path) -> bool:
        """Reopen a saved session: model, device, budgets, switches, solver options, the plan on show and
        the pinned plans (every plan re-checked by the simulator). A bad file changes nothing."""
        try:
            with _busy():
                ws = read_workspace(path)
        except PoetError as exc:
            self._warn("Cannot open this workspace", str(exc))
            return False
        model = ModelSource(zoo_name=ws.zoo_name, params=ws.params, graph_path=ws.graph_path)
        session = session_for(
            model, ws.graph, ws.profile, ram_budget_bytes=ws.ram_budget_bytes, runtime_factor=ws.runtime_factor,
            switches=ws.switches, options=ws.options,
        )  # fmt: skip
        if ws.current is not None:
            session = replace(session, result=ws.current, phase=SolvePhase.DONE, message=ws.current.plan.message)
        self._pins.set_pins(ws.pinned)
        self._sessions.start_session(session)
        self._sessions.set_document(Path(path))
        return True

    def _ask_dimensions(self, path: Path, names: tuple[str, ...]) -> dict[str, int] | None:
        """One input box per symbolic dimension; None if the user cancels."""
        dims: dict[str, int] = {}
        for name in names:
            value, ok = QInputDialog.getInt(
                self._window, "Model dimension",
                f"{path.name} leaves the size of '{name}' open.\nSize of {name}:", 1, 1, 1_000_000,
            )  # fmt: skip
            if not ok:
                return None
            dims[name] = value
        return dims

    # --- saving and exporting --------------------------------------------------------------------
    def current_workspace(self) -> Workspace:
        """The session and the pinned plans as a :class:`Workspace`; the plan on show is included only
        if it belongs to the current budgets (a re-solve may be pending)."""
        s = self._state.session
        is_file = s.model.graph_path is not None
        ws = Workspace(
            zoo_name=None if is_file else s.model.zoo_name,
            params=() if is_file else s.model.params,
            graph_path=s.model.graph_path,
            graph=s.graph,
            profile=s.profile,
            ram_budget_bytes=s.ram_budget_bytes,
            runtime_factor=s.runtime_factor,
            switches=s.switches,
            options=s.options,
            pinned=self._pins.pinned,
        )
        if s.result is not None and not plan_mismatch(ws, s.result):
            ws = replace(ws, current=s.result)
        return ws

    def save_workspace(self, path: Path) -> bool:
        """Write :meth:`current_workspace` to ``path`` atomically; a failure is reported in a dialog."""
        try:
            with _busy():
                workspace.save_workspace(self.current_workspace(), path)
        except PoetError as exc:
            QMessageBox.critical(self._window, "Could not save the workspace", str(exc))
            return False
        remember(Path(path))
        self._sessions.set_document(Path(path))
        return True

    def export_plan(self, path: Path, result: VerifiedPlan | None = None, options: SolverOptions | None = None) -> bool:
        """Write the plan on show (or ``result``, made with ``options``) as a plan file, atomically."""
        if result is None:
            result, options = self._state.session.result, self._state.session.options
        if result is None:
            QMessageBox.information(self._window, "Nothing to export", "There is no plan to export yet.")
            return False
        try:
            with _busy():
                save_plan(result, path, options=options)
        except PoetError as exc:
            QMessageBox.critical(self._window, "Export failed", str(exc))
            return False
        remember(Path(path))
        return True

    def export_operations(self, path: Path) -> bool:
        """Write the operation list of the plan on show as CSV, atomically."""
        result = self._state.session.result
        if result is None or result.sim is None:
            QMessageBox.information(
                self._window, "Nothing to export", "There is no plan with a schedule to export yet."
            )
            return False
        try:
            write_operations_csv(result, Path(path))
        except PoetError as exc:
            QMessageBox.critical(self._window, "Export failed", str(exc))
            return False
        return True

    def export_plots(self, directory: Path) -> list[Path]:
        """Save every plot as ``<name>.png`` and ``<name>.svg`` in ``directory``; return the files written."""
        try:
            with _busy():
                return save_plot_images(self._sessions.plots(), Path(directory))
        except PoetError as exc:
            QMessageBox.critical(self._window, "Export failed", str(exc))
            return []

    # --- dialogs: each picks a path and hands it to the method above ------------------------------
    @Slot()
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window, "Open a graph, plan, workspace or fleet table", self._last_directory(), OPEN_FILTER
        )
        if path:
            self._remember_directory(path)
            self.open_path(Path(path))

    @Slot()
    def save_workspace_dialog(self) -> None:
        start = str(Path(self._last_directory()) / "workspace.poet.json")
        path, _ = QFileDialog.getSaveFileName(self._window, "Save workspace", start, WORKSPACE_FILTER)
        if path:
            self._remember_directory(path)
            self.save_workspace(Path(path))

    @Slot()
    def export_plan_dialog(self) -> None:
        path = self.ask_plan_path("plan")
        if path is not None:
            self.export_plan(path)

    def ask_plan_path(self, name: str) -> Path | None:
        """Ask where to save a plan file, offering ``name`` (made a safe file name) in the last folder."""
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        start = str(Path(self._last_directory()) / f"{stem}.json")
        path, _ = QFileDialog.getSaveFileName(self._window, "Export plan", start, "Plan files (*.json)")
        if not path:
            return None
        self._remember_directory(path)
        return Path(path)

    @Slot()
    def export_operations_dialog(self) -> None:
        start = str(Path(self._last_directory()) / "schedule.csv")
        path, _ = QFileDialog.getSaveFileName(self._window, "Export operations", start, "CSV files (*.csv)")
        if path:
            self._remember_directory(path)
            self.export_operations(Path(path))

    @Slot()
    def export_plots_dialog(self) -> None:
        directory = QFileDialog.getExistingDirectory(self._window, "Export plot images into", self._last_directory())
        if directory:
            self._remember_directory(directory)
            written = self.export_plots(Path(directory))
            if written:
                self._window.statusBar().showMessage(f"Saved {len(written)} images in {directory}", 8000)

    def _last_directory(self) -> str:
        return str(QSettings().value("files/last_dir", "", type=str))

    def _remember_directory(self, path: str) -> None:
        QSettings().setValue("files/last_dir", str(Path(path).parent if not Path(path).is_dir() else Path(path)))

    def _warn(self, title: str, text: str) -> None:
        QMessageBox.warning(self._window, title, text)
