"""The main window: controls on the left, the plan's plots in the middle, pinned plans and the solve's
state below.

The window only presents a :class:`~poet_gui.ui.state.Session` and turns user actions into new
sessions and background solves; it computes nothing itself. Moving a control restarts the solve
after a short pause in the motion, cancelling (killing) the one in flight.

Beyond the session it keeps the plans the user pinned (a tuple of
:class:`~poet_gui.core.files.workspace.PinnedPlan`, replaced whole on every change): they outlive changes of
model and device, because comparing plans across them is what they are for. Files are opened, saved
and exported through small methods (:meth:`MainWindow.open_path`, :meth:`MainWindow.save_workspace`,
:meth:`MainWindow.export_plan`, ...) that the menus' file dialogs call and scripts and tests call
directly. Plans and workspaces are re-checked by the simulator on the GUI thread: that takes tens of
milliseconds even for the largest zoo model (a resnet50 plan: about 40 ms).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from poet_gui.core.device.profiles import DeviceProfile
from poet_gui.core.errors import PoetError
from poet_gui.core.files import plan_io, workspace
from poet_gui.core.files.plan_io import read_plan, save_plan
from poet_gui.core.files.schedule_export import write_operations_csv
from poet_gui.core.files.workspace import PinnedPlan, Workspace, file_format, plan_mismatch, read_workspace, unique_name
from poet_gui.core.model.onnx_import import load_onnx_graph, symbolic_dimensions
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.solve.milp import Progress, SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan
from poet_gui.ui.about import show_about
from poet_gui.ui.compare_view import CompareView
from poet_gui.ui.exports import save_plot_images
from poet_gui.ui.plan_figures import inputs_text
from poet_gui.ui.plots import EnergyPlot, MemoryPlot, TimelinePlot, TradeoffPlot
from poet_gui.ui.recent_files import RecentFilesMenu, forget, remember
from poet_gui.ui.state import AppState, ModelSource, Session, SolvePhase, session_for
from poet_gui.ui.status_text import banner_text, status_text
from poet_gui.ui.sweep_job import SweepRunner
from poet_gui.ui.widgets.budget_panel import BudgetPanel
from poet_gui.ui.widgets.device_panel import DevicePanel
from poet_gui.ui.widgets.model_panel import ModelPanel
from poet_gui.ui.widgets.pinned_panel import PinnedPanel
from poet_gui.ui.widgets.profile_editor import ProfileEditor
from poet_gui.ui.workers import JobRunner, SolveJob

#: Pause in a slider's motion before a new solve starts: long enough to skip intermediate positions,
#: short enough to feel live.
DEBOUNCE_MS = 300


#: Height (pixels) the pinned plans' panel opens at: a few rows of the table.
PINNED_DOCK_HEIGHT = 170
#: The name the plan on show goes by in the compare view (it may or may not be pinned too).
CURRENT_PLAN_NAME = "plan on show"
#: File dialog filters: everything File ▸ Open reads is JSON; the format field tells them apart.
OPEN_FILTER = (
    "Models and POET files (*.onnx *.json);;ONNX models (*.onnx);;Graph, plan or workspace (*.json);;All files (*)"
)
WORKSPACE_FILTER = "POET workspaces (*.poet.json *.json);;All files (*)"


@contextmanager
def _busy() -> Iterator[None]:
    """A wait cursor over file work the user waits for: re-checking or writing a workspace of resnet50
    plans takes a few tenths of a second (one plan: about 40 ms to read, 130 ms to write)."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()


class MainWindow(QMainWindow):
    """POET Studio's window. :attr:`plan_shown` fires whenever a new plan reaches the plots."""

    plan_shown = Signal(object)  # VerifiedPlan
    solve_ended = Signal(object)  # Session, after a final answer, failure or cancel
    pins_changed = Signal(object)  # tuple[PinnedPlan, ...]

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setWindowTitle("POET Studio")
        self.setAcceptDrops(True)
        self._runner = JobRunner(self)
        self._job: SolveJob | None = None
        self._solve_started = 0.0
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.solve_now)
        self._ticker = QTimer(self, interval=100)
        self._ticker.timeout.connect(self._show_status)
        self._sweeps = SweepRunner(self)
        self._pinned: tuple[PinnedPlan, ...] = ()
        self.compare_view: CompareView | None = None

        self.model_panel = ModelPanel()
        self.device_panel = DevicePanel()
        self.budget_panel = BudgetPanel()
        controls = QWidget()
        column = QVBoxLayout(controls)
        for panel in (self.model_panel, self.device_panel, self.budget_panel):
            column.addWidget(panel)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # controls fit the width
        scroll.setMinimumWidth(380)

        self.timeline = TimelinePlot()
        self.memory = MemoryPlot()
        self.energy = EnergyPlot()
        self.tradeoff = TradeoffPlot()
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.timeline)
        top.addWidget(self.memory)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.energy)
        bottom.addWidget(self.tradeoff)
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(top)
        plots.addWidget(bottom)
        plots.setStretchFactor(0, 3)
        plots.setStretchFactor(1, 2)
        self._banner = QLabel()
        self._banner.setWordWrap(True)
        self._banner.setObjectName("banner")
        self._banner.setVisible(False)
        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(4, 4, 4, 4)
        center_layout.addWidget(self._banner)
        center_layout.addWidget(plots, 1)
        self._splitters = {"main": QSplitter(Qt.Orientation.Horizontal), "plots": plots}
        main = self._splitters["main"]
        main.addWidget(scroll)
        main.addWidget(center)
        main.setStretchFactor(1, 1)
        main.setSizes([400, 1000])
        self.setCentralWidget(main)

        self.pinned_panel = PinnedPanel()
        self._pinned_dock = QDockWidget("Pinned plans", self)
        self._pinned_dock.setObjectName("pinned_dock")  # saveState() finds docks by name
        self._pinned_dock.setWidget(self.pinned_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self._pinned_dock)
        self._pinned_dock.hide()  # until the first pin, or as the last run left it (restoreState)

        self._status = QLabel()
        self._cancel_button = QPushButton("Cancel")
        self._cancel_button.setToolTip("Stop the running solve now (Esc)")
        self._cancel_button.clicked.connect(self.cancel_solve)
        self.statusBar().addWidget(self._status, 1)
        self.statusBar().addPermanentWidget(self._cancel_button)
        self._build_actions()

        self.model_panel.zoo_chosen.connect(self._on_model_panel_zoo_chosen)
        self.model_panel.onnx_chosen.connect(self._on_model_panel_onnx_chosen)
        self.model_panel.open_requested.connect(self.open_dialog)
        self.device_panel.profile_chosen.connect(self._on_device_panel_profile_chosen)
        self.device_panel.edit_requested.connect(self._on_device_panel_edit_requested)
        self.budget_panel.budgets_changed.connect(self._on_budget_panel_budgets_changed)
        self.budget_panel.switches_changed.connect(self._on_budget_panel_switches_changed)
        self.budget_panel.options_changed.connect(self._on_budget_panel_options_changed)
        self.tradeoff.point_clicked.connect(self._on_tradeoff_point_clicked)
        self._sweeps.points_changed.connect(self.tradeoff.set_points)
        self.pinned_panel.pin_requested.connect(self.pin_current_dialog)
        self.pinned_panel.compare_requested.connect(self._on_compare_action_triggered)
        self.pinned_panel.export_requested.connect(self._on_pinned_panel_export_requested)
        self.pinned_panel.remove_requested.connect(self._on_pinned_panel_remove_requested)
        self.pinned_panel.rename_requested.connect(self._on_pinned_panel_rename_requested)
        self._recent_menu.path_chosen.connect(self._on_recent_menu_path_chosen)
        self.state.changed.connect(self._on_state_changed)
        self._restore_geometry()
        self.sweep_finished = self._sweeps.finished
        self._show_inputs(state.session)
        self._on_state_changed(state.session)
        self._sweeps.start(state.session)

    # --- actions ---------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        def action(text: str, slot, shortcut: QKeySequence | str | None = None, tip: str = "") -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.setToolTip(tip or text)
            act.setStatusTip(tip or text)
            act.triggered.connect(slot)
            return act

        self.open_action = action(
            "&Open…", self.open_dialog, QKeySequence.StandardKey.Open, "Open a graph, plan or workspace file (Ctrl+O)"
        )
        self.save_workspace_action = action(
            "&Save workspace…",
            self.save_workspace_dialog,
            QKeySequence.StandardKey.Save,
            "Save model, device, budgets and pinned plans as one file (Ctrl+S)",
        )
        self.export_plan_action = action(
            "&Plan JSON…", self.export_plan_dialog, "Ctrl+Shift+E", "Save the plan on show as a plan file"
        )
        self.export_action = action(
            "&Operations CSV…", self.export_operations_dialog, "Ctrl+E", "Save the operation list as CSV (Ctrl+E)"
        )
        self.export_plots_action = action(
            "Plot &images…", self.export_plots_dialog, None, "Save each plot as PNG and SVG into a folder"
        )
        self.export_action.setIconText("Export CSV")  # the toolbar's label, out of the Export menu's context
        quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit, "Quit POET Studio")
        self.solve_action = action("&Solve now", self.solve_now, "Ctrl+R", "Solve the current budgets now (Ctrl+R)")
        self.cancel_action = action("&Cancel solve", self.cancel_solve, "Esc", "Stop the running solve (Esc)")
        self.pin_action = action(
            "&Pin current plan…", self.pin_current_dialog, "Ctrl+P", "Keep the plan on show under a name (Ctrl+P)"
        )
        self.compare_action = action(
            "C&ompare pinned plans…",
            self._on_compare_action_triggered,
            "Ctrl+D",
            "Show two plans side by side with their differences marked (Ctrl+D)",
        )
        about = action("&About POET Studio", lambda: show_about(self), None, "Versions of the app and its solvers")

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        self._recent_menu = RecentFilesMenu(self)
        file_menu.addMenu(self._recent_menu)
        file_menu.addAction(self.save_workspace_action)
        file_menu.addSeparator()
        export_menu = file_menu.addMenu("&Export")
        export_menu.addActions([self.export_plan_action, self.export_action, self.export_plots_action])
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        plan_menu = self.menuBar().addMenu("&Plan")
        plan_menu.addActions([self.solve_action, self.cancel_action])
        plan_menu.addSeparator()
        plan_menu.addActions([self.pin_action, self.compare_action])
        self.menuBar().addMenu("&View").addAction(self._pinned_dock.toggleViewAction())
        self.menuBar().addMenu("&Help").addAction(about)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.addActions([self.open_action, self.save_workspace_action, self.export_action])
        toolbar.addSeparator()
        toolbar.addActions([self.solve_action, self.cancel_action])
        toolbar.addSeparator()
        toolbar.addActions([self.pin_action, self.compare_action])

    # --- solving ---------------------------------------------------------------------------------
    @Slot()
    def solve_now(self) -> None:
        """Start a background solve of the current session, cancelling any running one."""
        self._debounce.stop()
        session = self.state.session
        try:
            problem = session.problem()
        except PoetError as exc:
            self.state.update(phase=SolvePhase.FAILED, message=str(exc), progress=None)
            return
        job = SolveJob(problem, session.options)
        # Bound slots of the window, not lambdas: a lambda has no thread of its own, so PySide6 would run
        # it on the worker thread that emits; a slot of this QObject is queued to the GUI thread, and
        # sender() then tells which job answered.
        job.progressed.connect(self._on_job_progressed)
        job.interim.connect(self._on_job_interim)
        job.finished.connect(self._on_job_finished)
        job.failed.connect(self._on_job_failed)
        self._job = job
        self._solve_started = time.perf_counter()
        self._ticker.start()
        self._runner.start(job, (job.finished, job.failed, job.cancelled))
        self.state.update(phase=SolvePhase.SOLVING, progress=None, message="")

    @Slot()
    def cancel_solve(self) -> None:
        if self._job is None:
            return
        self._runner.cancel()
        self._job = None
        self._ticker.stop()
        self.state.update(phase=SolvePhase.CANCELLED, message="cancelled", progress=None)
        self.solve_ended.emit(self.state.session)

    def is_solving(self) -> bool:
        return self._job is not None

    def _schedule_solve(self) -> None:
        self._runner.cancel()
        self._job = None
        self._debounce.start()

    def _stop_solving(self) -> None:
        """Drop the solve in flight and any pending one, without a "cancelled" state (a new session follows)."""
        self._debounce.stop()
        self._runner.cancel()
        self._job = None
        self._ticker.stop()

    @Slot(object)
    def _on_job_progressed(self, progress: Progress) -> None:
        if self.sender() is self._job:
            self.state.update(progress=progress)

    @Slot(object)
    def _on_job_interim(self, result: VerifiedPlan) -> None:
        self._on_job_result(self.sender(), result, final=False)

    @Slot(object)
    def _on_job_finished(self, result: VerifiedPlan) -> None:
        self._on_job_result(self.sender(), result, final=True)

    def _on_job_result(self, job: QObject | None, result: VerifiedPlan, *, final: bool) -> None:
        if job is not self._job:
            return  # an answer to budgets the user has since moved away from
        if final:
            self._job = None
            self._ticker.stop()
        # The planner's final answer already falls back to its interim plan when the solver found
        # nothing better, so the final result always replaces what is shown.
        self.state.update(
            result=result,
            phase=SolvePhase.DONE if final else SolvePhase.SOLVING,
            message=result.plan.message,
        )
        if final:
            self.solve_ended.emit(self.state.session)

    @Slot(str, bool)
    def _on_job_failed(self, message: str, is_bug: bool) -> None:
        if self.sender() is not self._job:
            return
        self._job = None
        self._ticker.stop()
        self.state.update(phase=SolvePhase.FAILED, message=message.splitlines()[-1] if is_bug else message)
        if is_bug:
            QMessageBox.critical(self, "Solver error", f"The solver failed unexpectedly (a bug):\n\n{message}")
        self.solve_ended.emit(self.state.session)

    # --- inputs ----------------------------------------------------------------------------------
    def _rebuild(self, model: ModelSource | None = None, profile: DeviceProfile | None = None) -> bool:
        """New model or device: a new session (budgets keep their share of the plain peak)."""
        old = self.state.session
        fraction = old.ram_budget_bytes / old.reference.plain_peak_ram_bytes
        try:
            session = session_for(
                model or old.model, old.graph if model is None else model.load(), profile or old.profile,
                ram_fraction=fraction, runtime_factor=old.runtime_factor, switches=old.switches, options=old.options,
            )  # fmt: skip
        except PoetError as exc:
            QMessageBox.warning(self, "Cannot use this model", str(exc))
            self._show_inputs(old)
            return False
        self._start_session(session)
        return True

    def _start_session(self, session: Session) -> None:
        """Show ``session``, restart the sweep, and solve unless it comes with its plan (from a file)."""
        self._stop_solving()
        self.state.replace(session)
        self._show_inputs(session)
        self._sweeps.start(session)
        if session.result is None:
            self.solve_now()

    def _show_inputs(self, session: Session) -> None:
        self.model_panel.show_session(session)
        self.device_panel.show_profile(session.profile)
        self.budget_panel.show_session(session)

    # --- files -----------------------------------------------------------------------------------
    def open_path(self, path: Path) -> bool:
        """Open a graph, plan or workspace file (told apart by its ``format`` field) and remember it in
        File ▸ Open recent. A file that cannot be used is reported in a dialog and the window stays as
        it was."""
        path = Path(path)
        kind = file_format(path)
        if path.suffix.lower() == ".onnx":
            is_opened = self.open_onnx(path)
        elif kind == plan_io.FORMAT:
            is_opened = self.open_plan(path)
        elif kind == workspace.FORMAT:
            is_opened = self.open_workspace(path)
        elif kind is not None:
            QMessageBox.warning(
                self, "Cannot open this file",
                f"{path}: not a graph, plan or workspace file (its format is {kind!r}; expected "
                f"{plan_io.FORMAT!r}, {workspace.FORMAT!r} or a graph without a format field)",
            )  # fmt: skip
            return False
        else:
            is_opened = self.open_graph(path)
        if is_opened:
            remember(path)
        elif not path.exists():
            forget(path)
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
            QMessageBox.warning(self, "Cannot import this model", str(exc))
            return False
        source = ModelSource(zoo_name=None, graph_path=str(path), dims=tuple(sorted((dims or {}).items())))
        if not self._rebuild(model=source):
            return False
        self._set_document(None)
        if imported.warnings:
            QMessageBox.information(self, "Imported with estimates", "\n".join(imported.warnings))
        return True

    def _ask_dimensions(self, path: Path, names: tuple[str, ...]) -> dict[str, int] | None:
        """One input box per symbolic dimension; None if the user cancels."""
        dims: dict[str, int] = {}
        for name in names:
            value, ok = QInputDialog.getInt(
                self, "Model dimension", f"{path.name} leaves the size of '{name}' open.\nSize of {name}:", 1, 1,
                1_000_000,
            )  # fmt: skip
            if not ok:
                return None
            dims[name] = value
        return dims

    def _on_model_panel_onnx_chosen(self, path: str) -> None:
        if not self.open_onnx(Path(path)):
            self._show_inputs(self.state.session)

    def open_graph(self, path: Path) -> bool:
        """Open a graph file; a bad file is reported in a dialog and the current model stays."""
        if not self._rebuild(model=ModelSource(zoo_name=None, graph_path=str(path))):
            return False
        self._set_document(None)
        return True

    def open_plan(self, path: Path) -> bool:
        """Show the plan of a plan file with its model, device and budgets, after the simulator re-checked
        it; an altered or malformed file is refused in a dialog naming the step or field and why."""
        try:
            with _busy():
                loaded = read_plan(path)
        except PoetError as exc:
            QMessageBox.warning(self, "Cannot open this plan", str(exc))
            return False
        result = loaded.result
        p = result.plan.problem
        session = session_for(
            ModelSource(zoo_name=None, graph_path=str(path)), p.graph, p.profile,
            ram_budget_bytes=p.ram_budget_bytes, runtime_factor=p.runtime_factor, switches=p.switches,
            options=loaded.options or self.state.session.options,
        )  # fmt: skip
        self._start_session(replace(session, result=result, phase=SolvePhase.DONE, message=result.plan.message))
        self._set_document(Path(path))
        return True

    def open_workspace(self, path: Path) -> bool:
        """Reopen a saved session: model, device, budgets, switches, solver options, the plan on show and
        the pinned plans (every plan re-checked by the simulator). A bad file changes nothing."""
        try:
            with _busy():
                ws = read_workspace(path)
        except PoetError as exc:
            QMessageBox.warning(self, "Cannot open this workspace", str(exc))
            return False
        model = ModelSource(zoo_name=ws.zoo_name, params=ws.params, graph_path=ws.graph_path)
        session = session_for(
            model, ws.graph, ws.profile, ram_budget_bytes=ws.ram_budget_bytes, runtime_factor=ws.runtime_factor,
            switches=ws.switches, options=ws.options,
        )  # fmt: skip
        if ws.current is not None:
            session = replace(session, result=ws.current, phase=SolvePhase.DONE, message=ws.current.plan.message)
        self._set_pins(ws.pinned)
        self._start_session(session)
        self._set_document(Path(path))
        return True

    def current_workspace(self) -> Workspace:
        """The session and the pinned plans as a :class:`Workspace`; the plan on show is included only
        if it belongs to the current budgets (a re-solve may be pending)."""
        s = self.state.session
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
            pinned=self._pinned,
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
            QMessageBox.critical(self, "Could not save the workspace", str(exc))
            return False
        remember(Path(path))
        self._set_document(Path(path))
        return True

    def export_plan(self, path: Path, result: VerifiedPlan | None = None, options: SolverOptions | None = None) -> bool:
        """Write the plan on show (or ``result``, made with ``options``) as a plan file, atomically."""
        if result is None:
            result, options = self.state.session.result, self.state.session.options
        if result is None:
            QMessageBox.information(self, "Nothing to export", "There is no plan to export yet.")
            return False
        try:
            with _busy():
                save_plan(result, path, options=options)
        except PoetError as exc:
            QMessageBox.critical(self, "Export failed", str(exc))
            return False
        remember(Path(path))
        return True

    def export_operations(self, path: Path) -> bool:
        """Write the operation list of the plan on show as CSV, atomically."""
        result = self.state.session.result
        if result is None or result.sim is None:
            QMessageBox.information(self, "Nothing to export", "There is no plan with a schedule to export yet.")
            return False
        try:
            write_operations_csv(result, Path(path))
        except PoetError as exc:
            QMessageBox.critical(self, "Export failed", str(exc))
            return False
        return True

    def export_plots(self, directory: Path) -> list[Path]:
        """Save every plot as ``<name>.png`` and ``<name>.svg`` in ``directory``; return the files written."""
        plots = {"timeline": self.timeline, "memory": self.memory, "energy": self.energy, "tradeoff": self.tradeoff}
        try:
            with _busy():
                return save_plot_images(plots, Path(directory))
        except PoetError as exc:
            QMessageBox.critical(self, "Export failed", str(exc))
            return []

    def _set_document(self, path: Path | None) -> None:
        """Name the plan or workspace file the window shows in its title (None: no file)."""
        self.setWindowTitle("POET Studio" if path is None else f"{path.name} — POET Studio")

    # --- file dialogs: each picks a path and hands it to the method above -------------------------
    def _dialog_directory(self) -> str:
        return str(QSettings().value("files/last_dir", "", type=str))

    def _remember_directory(self, path: str) -> None:
        QSettings().setValue("files/last_dir", str(Path(path).parent if not Path(path).is_dir() else Path(path)))

    @Slot()
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a graph, plan or workspace", self._dialog_directory(),
                                              OPEN_FILTER)  # fmt: skip
        if path:
            self._remember_directory(path)
            self.open_path(Path(path))

    @Slot()
    def save_workspace_dialog(self) -> None:
        start = str(Path(self._dialog_directory()) / "workspace.poet.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save workspace", start, WORKSPACE_FILTER)
        if path:
            self._remember_directory(path)
            self.save_workspace(Path(path))

    @Slot()
    def export_plan_dialog(self) -> None:
        path = self._ask_plan_path("plan")
        if path is not None:
            self.export_plan(path)

    def _ask_plan_path(self, name: str) -> Path | None:
        """Ask where to save a plan file, offering ``name`` (made a safe file name) in the last folder."""
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        start = str(Path(self._dialog_directory()) / f"{stem}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Export plan", start, "Plan files (*.json)")
        if not path:
            return None
        self._remember_directory(path)
        return Path(path)

    @Slot()
    def export_operations_dialog(self) -> None:
        start = str(Path(self._dialog_directory()) / "schedule.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export operations", start, "CSV files (*.csv)")
        if path:
            self._remember_directory(path)
            self.export_operations(Path(path))

    @Slot()
    def export_plots_dialog(self) -> None:
        directory = QFileDialog.getExistingDirectory(self, "Export plot images into", self._dialog_directory())
        if directory:
            self._remember_directory(directory)
            written = self.export_plots(Path(directory))
            if written:
                self.statusBar().showMessage(f"Saved {len(written)} images in {directory}", 8000)

    def _on_recent_menu_path_chosen(self, path: Path) -> None:
        self.open_path(path)

    # --- pinned plans ----------------------------------------------------------------------------
    @property
    def pinned(self) -> tuple[PinnedPlan, ...]:
        return self._pinned

    def _set_pins(self, pins: Sequence[PinnedPlan]) -> None:
        self._pinned = tuple(pins)
        self.pinned_panel.show_pins(self._pinned)
        self._refresh_compare_view()
        self.pins_changed.emit(self._pinned)

    def pin_current(self, name: str | None = None) -> PinnedPlan | None:
        """Keep the plan on show under ``name`` (made unique; default: what it was made for)."""
        s = self.state.session
        if s.result is None:
            QMessageBox.information(self, "Nothing to pin", "There is no plan to pin yet.")
            return None
        pin = PinnedPlan(unique_name(name or inputs_text(s.result), {p.name for p in self._pinned}), s.result,
                         s.options)  # fmt: skip
        self._set_pins((*self._pinned, pin))
        if self._pinned_dock.isHidden():
            self._pinned_dock.show()
            # Room for a few rows; the dock's size hint (a table's) would take a third of the window.
            self.resizeDocks([self._pinned_dock], [PINNED_DOCK_HEIGHT], Qt.Orientation.Vertical)
        return pin

    @Slot()
    def pin_current_dialog(self) -> None:
        result = self.state.session.result
        if result is None:
            QMessageBox.information(self, "Nothing to pin", "There is no plan to pin yet.")
            return
        default = unique_name(inputs_text(result), {p.name for p in self._pinned})
        name, is_ok = QInputDialog.getText(self, "Pin current plan", "Name of the plan:", text=default)
        if is_ok:
            self.pin_current(name)

    def compare_plans(self, a: int | None = None, b: int | None = None) -> CompareView | None:
        """Open (or raise) the compare view on plans ``a`` and ``b``: indices into the pinned plans, where
        ``len(pinned)`` is the plan on show. By default: the two selected pins, one selected pin against
        the plan on show, else the two latest pins."""
        plans = self._comparable_plans()
        if len(plans) < 2:
            QMessageBox.information(
                self, "Nothing to compare", "Pin a plan (Ctrl+P), change the budgets, device or switches, then compare."
            )
            return None
        if a is None or b is None:
            a, b = self._default_pair(self.pinned_panel.selected_rows(), len(plans))
        if self.compare_view is None:
            self.compare_view = CompareView((), self)
        self.compare_view.set_plans(plans, a, b)
        self.compare_view.show()
        self.compare_view.raise_()
        return self.compare_view

    @Slot()
    def _on_compare_action_triggered(self) -> None:
        self.compare_plans()

    def _comparable_plans(self) -> list[PinnedPlan]:
        plans = list(self._pinned)
        s = self.state.session
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

    def _refresh_compare_view(self) -> None:
        if self.compare_view is not None and self.compare_view.isVisible():
            self.compare_view.set_plans(self._comparable_plans())

    def _on_pinned_panel_export_requested(self, row: int) -> None:
        pin = self._pinned[row]
        path = self._ask_plan_path(pin.name)
        if path is not None:
            self.export_plan(path, pin.result, pin.options)

    def _on_pinned_panel_remove_requested(self, rows: tuple[int, ...]) -> None:
        self._set_pins([pin for k, pin in enumerate(self._pinned) if k not in rows])

    def _on_pinned_panel_rename_requested(self, row: int, name: str) -> None:
        others = {p.name for k, p in enumerate(self._pinned) if k != row}
        pins = list(self._pinned)
        pins[row] = replace(pins[row], name=unique_name(name, others))
        self._set_pins(pins)

    def _on_model_panel_zoo_chosen(self, name: str, params: tuple[tuple[str, int], ...]) -> None:
        self._rebuild(model=ModelSource(zoo_name=name, params=params))

    def _on_device_panel_profile_chosen(self, profile: DeviceProfile) -> None:
        self._rebuild(profile=profile)

    def _on_device_panel_edit_requested(self) -> None:
        editor = ProfileEditor(self.state.session.profile, self)
        if editor.exec() and editor.saved_profile is not None:
            self.device_panel.reload(select=editor.saved_profile.key)
            self._rebuild(profile=editor.saved_profile)

    def _on_budget_panel_budgets_changed(self, ram: float, factor: float) -> None:
        self.state.update(ram_budget_bytes=ram, runtime_factor=factor)
        self._schedule_solve()

    def _on_budget_panel_switches_changed(self, switches: Switches) -> None:
        self.state.update(switches=switches)
        self._sweeps.start(self.state.session)
        self._schedule_solve()

    def _on_budget_panel_options_changed(self, options: SolverOptions) -> None:
        self.state.update(options=options)
        self._schedule_solve()

    def _on_tradeoff_point_clicked(self, ram: float, factor: float) -> None:
        self.state.update(ram_budget_bytes=ram, runtime_factor=factor)
        self.budget_panel.show_session(self.state.session)
        self.solve_now()

    def set_budgets(self, ram_budget_bytes: float | None = None, runtime_factor: float | None = None) -> None:
        """Change budgets as the sliders would (used by scripts and tests), then solve at once."""
        s = self.state.session
        self.state.update(
            ram_budget_bytes=s.ram_budget_bytes if ram_budget_bytes is None else ram_budget_bytes,
            runtime_factor=s.runtime_factor if runtime_factor is None else runtime_factor,
        )
        self.budget_panel.show_session(self.state.session)
        self.solve_now()

    # --- presenting ------------------------------------------------------------------------------
    def _on_state_changed(self, session: Session) -> None:
        result = session.result
        shown = getattr(self, "_shown_result", None)
        if result is not shown:
            self._shown_result = result
            if result is not None:
                self.timeline.show_plan(result.plan.problem, result.plan.decisions)
            else:
                self.timeline.show_plan(session.problem(), None)
            self.memory.show_result(result.sim if result else None)
            self.energy.show_result(result.sim if result else None, session.reference.plain_energy_j)
            if result is not None and result.sim is not None:
                self.tradeoff.mark_current(result.plan.problem.ram_budget_bytes, result.sim.energy_j)
            else:
                self.tradeoff.mark_current(None, None)
            if result is not None:
                self.plan_shown.emit(result)
            self._refresh_compare_view()
        self.export_action.setEnabled(result is not None and result.sim is not None)
        for act in (self.export_plan_action, self.pin_action):
            act.setEnabled(result is not None)
        self._cancel_button.setEnabled(session.phase is SolvePhase.SOLVING)
        self.cancel_action.setEnabled(session.phase is SolvePhase.SOLVING)
        self._show_banner(session)
        self._show_status()

    def _show_banner(self, session: Session) -> None:
        text = banner_text(session)
        self._banner.setText(text)
        self._banner.setVisible(bool(text))

    def _show_status(self) -> None:
        self._status.setText(status_text(self.state.session, time.perf_counter() - self._solve_started))

    # --- window life -----------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 880)
        window_state = settings.value("window/state")
        if isinstance(window_state, QByteArray):
            self.restoreState(window_state)
        for name, splitter in self._splitters.items():
            sizes = settings.value(f"window/splitter_{name}")
            if isinstance(sizes, QByteArray):
                splitter.restoreState(sizes)

    def closeEvent(self, event: QCloseEvent) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        for name, splitter in self._splitters.items():
            settings.setValue(f"window/splitter_{name}", splitter.saveState())
        if self.compare_view is not None:
            self.compare_view.close()
        self._debounce.stop()
        self._ticker.stop()
        self._job = None
        self._runner.shutdown()
        self._sweeps.shutdown()
        super().closeEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.open_path(Path(urls[0].toLocalFile()))
            event.acceptProposedAction()
