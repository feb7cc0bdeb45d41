"""The main window: controls on the left, the plan's plots in the middle, pinned plans and the solve's
state below.

The window only lays out the panels and plots, presents the :class:`~poet_gui.ui.state.Session` and
turns the input panels' changes into new sessions. What happens next lives in three controllers it
owns: :attr:`MainWindow.solver` (when solves and the trade-off sweep run), :attr:`MainWindow.files`
(open, save, export), :attr:`MainWindow.pins` (pinned plans and the compare view) and
:attr:`MainWindow.replay` (Plan ▸ Replay on this machine). Scripts and tests drive the window through them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
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
from poet_gui.core.device.units import format_bytes
from poet_gui.core.errors import PoetError
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.ui.about import show_about
from poet_gui.ui.file_controller import FileController
from poet_gui.ui.pins_controller import PinsController
from poet_gui.ui.plan_figures import unbroken
from poet_gui.ui.plots import EnergyPlot, MemoryPlot, TimelinePlot, TradeoffPlot
from poet_gui.ui.recent_files import RecentFilesMenu
from poet_gui.ui.replay_controller import ReplayController
from poet_gui.ui.solve_controller import SolveController
from poet_gui.ui.state import AppState, ModelSource, Session, SolvePhase, session_for
from poet_gui.ui.status_text import banner_text, params_budget_offer, status_text
from poet_gui.ui.widgets.budget_panel import BudgetPanel
from poet_gui.ui.widgets.device_panel import DevicePanel
from poet_gui.ui.widgets.model_panel import ModelPanel
from poet_gui.ui.widgets.pinned_panel import PinnedPanel
from poet_gui.ui.widgets.profile_editor import ProfileEditor


class MainWindow(QMainWindow):
    """POET Studio's window. :attr:`plan_shown` fires whenever a new plan reaches the plots."""

    plan_shown = Signal(object)  # VerifiedPlan

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setWindowTitle("POET Studio")
        self.setAcceptDrops(True)
        self._shown_result: object = None  # the result the plots show, to redraw only on a new one
        self._params_offer: float | None = None  # the budget the banner's button would set
        self.solver = SolveController(state, self)

        self.model_panel = ModelPanel()
        self.device_panel = DevicePanel()
        self.budget_panel = BudgetPanel()
        # Model and device scroll; the budgets, the app's main control, stay in sight below them at any
        # window height (at 1366x768 they used to start below the fold).
        choices = QWidget()
        choice_column = QVBoxLayout(choices)
        choice_column.setContentsMargins(0, 0, 0, 0)
        for panel in (self.model_panel, self.device_panel):
            choice_column.addWidget(panel)
        choice_column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(choices)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # controls fit the width
        controls = QWidget()
        controls.setMinimumWidth(380)
        column = QVBoxLayout(controls)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(scroll, 1)
        column.addWidget(self.budget_panel)

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
        # The banner's one action: a plan that overflows the device offers to count the parameters in
        # a budget the device can hold (the "Budget includes parameters" switch).
        self._params_button = QPushButton()
        self._params_button.setToolTip(
            "Turn on “Budget includes parameters” and set the RAM budget to the device's RAM, so the plan "
            "holds activations and parameters together in the device itself"
        )
        self._params_button.setVisible(False)
        self._params_button.clicked.connect(self._on_params_button_clicked)
        banner_row = QHBoxLayout()
        banner_row.addWidget(self._banner, 1)
        banner_row.addWidget(self._params_button, 0, Qt.AlignmentFlag.AlignVCenter)
        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(4, 4, 4, 4)
        center_layout.addLayout(banner_row)
        center_layout.addWidget(plots, 1)
        self._splitters = {"main": QSplitter(Qt.Orientation.Horizontal), "plots": plots}
        main = self._splitters["main"]
        main.addWidget(controls)
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
        self.pins = PinsController(
            state, self, self.pinned_panel, self._pinned_dock,
            ask_plan_path=lambda name: self.files.ask_plan_path(name),
            export_plan=lambda path, result, options: self.files.export_plan(path, result, options),
        )  # fmt: skip
        self.files = FileController(state, self, self, self.pins)

        self._status = QLabel()
        self.statusBar().addWidget(self._status, 1)
        self.replay = ReplayController(state, self, self.memory)
        self._build_actions()

        self.model_panel.zoo_chosen.connect(self._on_model_panel_zoo_chosen)
        self.model_panel.onnx_chosen.connect(self._on_model_panel_onnx_chosen)
        self.model_panel.open_requested.connect(self.files.open_dialog)
        self.device_panel.profile_chosen.connect(self._on_device_panel_profile_chosen)
        self.device_panel.edit_requested.connect(self._on_device_panel_edit_requested)
        self.budget_panel.budgets_changed.connect(self._on_budget_panel_budgets_changed)
        self.budget_panel.switches_changed.connect(self._on_budget_panel_switches_changed)
        self.budget_panel.options_changed.connect(self._on_budget_panel_options_changed)
        self.tradeoff.point_clicked.connect(self._on_tradeoff_point_clicked)
        self.solver.sweeps.points_changed.connect(self.tradeoff.set_points)
        self.solver.ticked.connect(self._show_status)
        self.solver.crashed.connect(self._on_solver_crashed)
        self._recent_menu.path_chosen.connect(self.files.open_path)
        self.state.changed.connect(self._on_state_changed)
        self._restore_geometry()
        self._show_inputs(state.session)
        self._on_state_changed(state.session)
        self.solver.restart_sweep(state.session)

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
            "&Open…", self.files.open_dialog, QKeySequence.StandardKey.Open,
            "Open a graph, plan or workspace file (Ctrl+O)",
        )  # fmt: skip
        self.save_workspace_action = action(
            "&Save workspace…",
            self.files.save_workspace_dialog,
            QKeySequence.StandardKey.Save,
            "Save model, device, budgets and pinned plans as one file (Ctrl+S)",
        )
        self.export_plan_action = action(
            "&Plan JSON…", self.files.export_plan_dialog, "Ctrl+Shift+E", "Save the plan on show as a plan file"
        )
        self.export_action = action(
            "&Operations CSV…", self.files.export_operations_dialog, "Ctrl+E", "Save the operation list as CSV (Ctrl+E)"
        )
        self.export_plots_action = action(
            "Plot &images…", self.files.export_plots_dialog, None, "Save each plot as PNG and SVG into a folder"
        )
        self.export_action.setIconText("Export CSV")  # the toolbar's label, out of the Export menu's context
        quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit, "Quit POET Studio")
        self.solve_action = action(
            "&Solve now", self.solver.solve_now, "Ctrl+R", "Solve the current budgets now (Ctrl+R)"
        )
        self.cancel_action = action("&Cancel solve", self.solver.cancel, "Esc", "Stop the running solve (Esc)")
        self.pin_action = action(
            "&Pin current plan…", self.pins.pin_current_dialog, "Ctrl+P", "Keep the plan on show under a name (Ctrl+P)"
        )
        self.compare_action = action(
            "C&ompare pinned plans…",
            self.pins.compare_plans_action,
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
        plan_menu.addSeparator()
        plan_menu.addAction(self.replay.action)
        plan_menu.setToolTipsVisible(True)  # a disabled Replay says why
        self.menuBar().addMenu("&View").addAction(self._pinned_dock.toggleViewAction())
        self.menuBar().addMenu("&Help").addAction(about)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.addActions([self.open_action, self.save_workspace_action, self.export_action])
        toolbar.addSeparator()
        toolbar.addActions([self.solve_action, self.cancel_action])
        toolbar.addSeparator()
        toolbar.addActions([self.pin_action, self.compare_action])
        toolbar.addSeparator()
        toolbar.addAction(self.replay.action)

    # --- sessions: what the file actions and the input panels change ------------------------------
    def rebuild(self, model: ModelSource | None = None, profile: DeviceProfile | None = None) -> bool:
        """New model or device: a new session (budgets keep their share of the plain peak). A model or
        device that cannot be used is reported in a dialog and the session stays as it was."""
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
        self.start_session(session)
        return True

    def start_session(self, session: Session) -> None:
        """Show ``session``, restart the sweep, and solve unless it comes with its plan (from a file)."""
        self.solver.stop()
        self.state.replace(session)
        self._show_inputs(session)
        if session.result is None:
            self.solver.solve_now()
        self.solver.restart_sweep(session)

    def set_document(self, path: Path | None) -> None:
        """Name the plan or workspace file the window shows in its title (None: no file)."""
        self.setWindowTitle("POET Studio" if path is None else f"{path.name} — POET Studio")

    def plots(self) -> dict[str, QWidget]:
        """The plots by the names their exported images take."""
        return {"timeline": self.timeline, "memory": self.memory, "energy": self.energy, "tradeoff": self.tradeoff}

    def set_budgets(self, ram_budget_bytes: float | None = None, runtime_factor: float | None = None) -> None:
        """Change budgets as the sliders would (used by scripts and tests), then solve at once."""
        s = self.state.session
        self.state.update(
            ram_budget_bytes=s.ram_budget_bytes if ram_budget_bytes is None else ram_budget_bytes,
            runtime_factor=s.runtime_factor if runtime_factor is None else runtime_factor,
        )
        self.budget_panel.show_session(self.state.session)
        self.solver.solve_now()

    def _show_inputs(self, session: Session) -> None:
        self.model_panel.show_session(session)
        self.device_panel.show_profile(session.profile)
        self.budget_panel.show_session(session)

    # --- input panels ---------------------------------------------------------------------------
    def _on_model_panel_zoo_chosen(self, name: str, params: tuple[tuple[str, int], ...]) -> None:
        self.rebuild(model=ModelSource(zoo_name=name, params=params))

    def _on_model_panel_onnx_chosen(self, path: str) -> None:
        if not self.files.open_onnx(Path(path)):
            self._show_inputs(self.state.session)  # the combo goes back to the model on show

    def _on_device_panel_profile_chosen(self, profile: DeviceProfile) -> None:
        self.rebuild(profile=profile)

    def _on_device_panel_edit_requested(self) -> None:
        editor = ProfileEditor(self.state.session.profile, self)
        if editor.exec() and editor.saved_profile is not None:
            self.device_panel.reload(select=editor.saved_profile.key)
            self.rebuild(profile=editor.saved_profile)

    def _on_budget_panel_budgets_changed(self, ram: float, factor: float) -> None:
        self.state.update(ram_budget_bytes=ram, runtime_factor=factor)
        if self.budget_panel.is_dragging():
            self.solver.hold()  # nothing starts until the release, which emits the settled budgets
        else:
            self.solver.schedule()

    def _on_budget_panel_switches_changed(self, switches: Switches) -> None:
        self.state.update(switches=switches)
        self.solver.schedule()
        self.solver.restart_sweep(self.state.session)

    def _on_budget_panel_options_changed(self, options: SolverOptions) -> None:
        self.state.update(options=options)
        self.solver.schedule()

    def _on_tradeoff_point_clicked(self, ram: float, factor: float) -> None:
        self.state.update(ram_budget_bytes=ram, runtime_factor=factor)
        self.budget_panel.show_session(self.state.session)
        self.solver.solve_now()

    # --- presenting ------------------------------------------------------------------------------
    def _on_state_changed(self, session: Session) -> None:
        result = session.result
        if result is not self._shown_result:
            self._shown_result = result
            if result is not None:
                self.timeline.show_plan(result.plan.problem, result.plan.decisions)
            else:
                self.timeline.show_plan(session.problem(), None)
            names = tuple(node.name for node in result.plan.problem.graph.nodes) if result else ()
            self.memory.show_result(result.sim if result else None, names)
            self.energy.show_result(result.sim if result else None, session.reference.plain_energy_j)
            if result is not None and result.sim is not None:
                self.tradeoff.mark_current(result.plan.problem.ram_budget_bytes, result.sim.energy_j)
            else:
                self.tradeoff.mark_current(None, None)
            if result is not None:
                self.plan_shown.emit(result)
            self.pins.refresh_compare_view()
        self.export_action.setEnabled(result is not None and result.sim is not None)
        for act in (self.export_plan_action, self.pin_action):
            act.setEnabled(result is not None)
        self.cancel_action.setEnabled(session.phase is SolvePhase.SOLVING)
        self._show_banner(session)
        self._show_status()

    def _show_banner(self, session: Session) -> None:
        text = banner_text(session)
        self._banner.setText(text)
        self._banner.setVisible(bool(text))
        budget = params_budget_offer(session)
        self._params_offer = budget
        if budget is not None:
            self._params_button.setText(f"Count parameters in a {unbroken(format_bytes(budget))} budget")
        self._params_button.setVisible(budget is not None)

    @Slot()
    def _on_params_button_clicked(self) -> None:
        session = self.state.session
        if self._params_offer is None:
            return
        self.state.update(
            switches=replace(session.switches, budget_includes_params=True), ram_budget_bytes=self._params_offer
        )
        self.budget_panel.show_session(self.state.session)
        self.solver.solve_now()
        self.solver.restart_sweep(self.state.session)

    @Slot()
    def _show_status(self) -> None:
        self._status.setText(status_text(self.state.session, self.solver.elapsed_s()))

    @Slot(str)
    def _on_solver_crashed(self, traceback_text: str) -> None:
        QMessageBox.critical(self, "Solver error", f"The solver failed unexpectedly (a bug):\n\n{traceback_text}")

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
        self.pins.close()
        self.replay.shutdown()
        self.solver.shutdown()
        super().closeEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.files.open_path(Path(urls[0].toLocalFile()))
            event.acceptProposedAction()
