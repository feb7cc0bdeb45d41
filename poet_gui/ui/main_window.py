"""The main window: controls on the left, the plan's plots in the middle, the solve's state below.

The window only presents a :class:`~poet_gui.ui.state.Session` and turns user actions into new
sessions and background solves; it computes nothing itself. Moving a control restarts the solve
after a short pause in the motion, cancelling (killing) the one in flight.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from poet_gui.core.errors import PoetError
from poet_gui.core.milp import Progress, SolverOptions
from poet_gui.core.plan import SolveStatus
from poet_gui.core.planner import VerifiedPlan
from poet_gui.core.problem import Switches
from poet_gui.core.profiles import DeviceProfile
from poet_gui.core.schedule_export import write_operations_csv
from poet_gui.core.units import format_bytes, format_energy
from poet_gui.ui.about import show_about
from poet_gui.ui.plots import EnergyPlot, MemoryPlot, TimelinePlot, TradeoffPlot
from poet_gui.ui.state import AppState, ModelSource, Session, SolvePhase, new_session
from poet_gui.ui.sweep_job import SweepRunner
from poet_gui.ui.widgets.budget_panel import BudgetPanel
from poet_gui.ui.widgets.device_panel import DevicePanel
from poet_gui.ui.widgets.model_panel import ModelPanel
from poet_gui.ui.widgets.profile_editor import ProfileEditor
from poet_gui.ui.workers import JobRunner, SolveJob

#: Pause in a slider's motion before a new solve starts: long enough to skip intermediate positions,
#: short enough to feel live.
DEBOUNCE_MS = 300


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


class MainWindow(QMainWindow):
    """POET Studio's window. :attr:`plan_shown` fires whenever a new plan reaches the plots."""

    plan_shown = Signal(object)  # VerifiedPlan
    solve_ended = Signal(object)  # Session, after a final answer, failure or cancel

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
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(scroll)
        main.addWidget(center)
        main.setStretchFactor(1, 1)
        main.setSizes([400, 1000])
        self.setCentralWidget(main)

        self._status = QLabel()
        self._cancel_button = QPushButton("Cancel")
        self._cancel_button.setToolTip("Stop the running solve now (Esc)")
        self._cancel_button.clicked.connect(self.cancel_solve)
        self.statusBar().addWidget(self._status, 1)
        self.statusBar().addPermanentWidget(self._cancel_button)
        self._build_actions()

        self.model_panel.zoo_chosen.connect(self._on_model_panel_zoo_chosen)
        self.model_panel.open_requested.connect(self.open_graph_dialog)
        self.device_panel.profile_chosen.connect(self._on_device_panel_profile_chosen)
        self.device_panel.edit_requested.connect(self._on_device_panel_edit_requested)
        self.budget_panel.budgets_changed.connect(self._on_budget_panel_budgets_changed)
        self.budget_panel.switches_changed.connect(self._on_budget_panel_switches_changed)
        self.budget_panel.options_changed.connect(self._on_budget_panel_options_changed)
        self.tradeoff.point_clicked.connect(self._on_tradeoff_point_clicked)
        self._sweeps.points_changed.connect(self.tradeoff.set_points)
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

        self.open_action = action("&Open graph…", self.open_graph_dialog, QKeySequence.StandardKey.Open,
                                  "Open a graph file in the reference JSON format")  # fmt: skip
        self.export_action = action("&Export schedule…", self.export_schedule_dialog, "Ctrl+E",
                                    "Save the plan's operation list as CSV")  # fmt: skip
        quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit, "Quit POET Studio")
        self.solve_action = action("&Solve now", self.solve_now, "Ctrl+R", "Solve the current budgets now (Ctrl+R)")
        self.cancel_action = action("&Cancel solve", self.cancel_solve, "Esc", "Stop the running solve (Esc)")
        about = action("&About POET Studio", lambda: show_about(self), None, "Versions of the app and its solvers")
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.open_action, self.export_action])
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        plan_menu = self.menuBar().addMenu("&Plan")
        plan_menu.addActions([self.solve_action, self.cancel_action])
        self.menuBar().addMenu("&Help").addAction(about)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.addActions([self.open_action, self.export_action, self.solve_action, self.cancel_action])

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
        job.progressed.connect(lambda p, j=job: self._on_job_progressed(j, p))
        job.interim.connect(lambda r, j=job: self._on_job_result(j, r, final=False))
        job.finished.connect(lambda r, j=job: self._on_job_result(j, r, final=True))
        job.failed.connect(lambda m, bug, j=job: self._on_job_failed(j, m, bug))
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

    def _on_job_progressed(self, job: SolveJob, progress: Progress) -> None:
        if job is self._job:
            self.state.update(progress=progress)

    def _on_job_result(self, job: SolveJob, result: VerifiedPlan, *, final: bool) -> None:
        if job is not self._job:
            return  # an answer to budgets the user has since moved away from
        if final:
            self._job = None
            self._ticker.stop()
        keep_interim = final and result.sim is None and self.state.session.result is not None and (
            result.plan.status in (SolveStatus.TIME_LIMIT, SolveStatus.CANCELLED))  # fmt: skip
        self.state.update(
            result=self.state.session.result if keep_interim else result,
            phase=SolvePhase.DONE if final else SolvePhase.SOLVING,
            message=result.plan.message,
        )
        if final:
            self.solve_ended.emit(self.state.session)

    def _on_job_failed(self, job: SolveJob, message: str, is_bug: bool) -> None:
        if job is not self._job:
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
            session = new_session(
                model or old.model, profile or old.profile, ram_fraction=fraction,
                runtime_factor=old.runtime_factor, switches=old.switches, options=old.options,
            )  # fmt: skip
        except PoetError as exc:
            QMessageBox.warning(self, "Cannot use this model", str(exc))
            self._show_inputs(old)
            return False
        self.state.replace(session)
        self._show_inputs(session)
        self._sweeps.start(session)
        self.solve_now()
        return True

    def _show_inputs(self, session: Session) -> None:
        self.model_panel.show_session(session)
        self.device_panel.show_profile(session.profile)
        self.budget_panel.show_session(session)

    def open_graph(self, path: Path) -> bool:
        """Open a graph file; a bad file is reported in a dialog and the current model stays."""
        return self._rebuild(model=ModelSource(zoo_name=None, graph_path=str(path)))

    @Slot()
    def open_graph_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open graph", "", "Graph files (*.json);;All files (*)")
        if path:
            self.open_graph(Path(path))

    @Slot()
    def export_schedule_dialog(self) -> None:
        result = self.state.session.result
        if result is None or result.sim is None:
            QMessageBox.information(self, "Nothing to export", "There is no plan to export yet.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export schedule", "schedule.csv", "CSV files (*.csv)")
        if path:
            try:
                write_operations_csv(result, Path(path))
            except PoetError as exc:
                QMessageBox.critical(self, "Export failed", str(exc))

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
        self.export_action.setEnabled(result is not None and result.sim is not None)
        self._cancel_button.setEnabled(session.phase is SolvePhase.SOLVING)
        self.cancel_action.setEnabled(session.phase is SolvePhase.SOLVING)
        self._show_banner(session)
        self._show_status()

    def _show_banner(self, session: Session) -> None:
        result = session.result
        text = ""
        if session.phase is SolvePhase.FAILED:
            text = f"Could not plan: {session.message}"
        elif result is not None and result.sim is None and result.plan.status is SolveStatus.INFEASIBLE:
            text = f"Infeasible: {result.plan.message}."
        elif result is not None and result.sim is None:
            text = f"No plan: {result.plan.message}."
        self._banner.setText(text)
        self._banner.setVisible(bool(text))

    def _show_status(self) -> None:
        s = self.state.session
        result = s.result
        if s.phase is SolvePhase.SOLVING:
            elapsed = time.perf_counter() - self._solve_started
            text = f"Solving… {elapsed:.1f} s"
            if s.progress is not None and s.progress.incumbent_j is not None:
                text += f" · best plan {format_energy(s.progress.incumbent_j)}"
            if s.progress is not None and s.progress.bound_j is not None:
                text += f" · bound {format_energy(s.progress.bound_j)}"
            if s.progress is not None and s.progress.gap is not None:
                text += f" · gap {s.progress.gap:.2%}"
            if result is not None and result.sim is not None:
                text += f" · showing {result.plan.strategy} plan ({format_energy(result.sim.energy_j)})"
        elif result is not None and result.sim is not None:
            plan, sim = result.plan, result.sim
            if plan.status is SolveStatus.OPTIMAL:
                quality = "Optimal (proven)"
            elif plan.gap is not None:
                quality = f"Feasible, within {plan.gap:.2%} of optimal (bound {format_energy(plan.bound_j or 0)})"
            else:
                quality = f"Feasible ({plan.strategy}), gap unknown"
            text = (
                f"{quality} · energy {format_energy(sim.energy_j)} "
                f"(+{sim.energy_j / s.reference.plain_energy_j - 1:.2%} over plain) · peak "
                f"{format_bytes(sim.peak_ram_bytes)} · {_count(sim.recomputes, 'recompute')}, "
                f"{_count(sim.pageins, 'page-in')}, {_count(sim.pageouts, 'page-out')} · verified · "
                f"{plan.solve_s:.2f} s"
            )
        elif s.phase is SolvePhase.CANCELLED:
            text = "Cancelled: press Ctrl+R to solve again"
        elif result is not None:
            text = f"{result.plan.status.value.capitalize()}: {result.plan.message}"
        else:
            text = s.message or "Ready"
        self._status.setText(text)

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

    def closeEvent(self, event: QCloseEvent) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
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
            self.open_graph(Path(urls[0].toLocalFile()))
            event.acceptProposedAction()
