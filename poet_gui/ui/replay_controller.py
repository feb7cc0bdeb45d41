"""Plan ▸ Replay on this machine: the plan on show, run as real training steps of its ONNX model.

The replay runs in a child process (the ``replay`` command, ``--json``) started by a :class:`QProcess`:
PyTorch is never imported into the app, the GUI thread only reads the child's pipes when Qt says they
have data, and Cancel kills the child's whole session at once. The plan goes to a temporary plan
file and the page-outs to a temporary storage folder beside it; both are removed however the replay
ends. When it answers, the RAM plot overlays the executor's measured bytes on the predicted curve
and the status bar states the gradient check; both are cleared when the plan on show changes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QObject, QProcess, QProcessEnvironment, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton

import poet_gui
from poet_gui.core.device.units import format_bytes
from poet_gui.core.errors import PoetError, ReplayError
from poet_gui.core.files.plan_io import save_plan
from poet_gui.core.replay.launch import (
    REQUESTER_PID_VARIABLE,
    error_line,
    parse_progress,
    replay_arguments,
    replay_refusal,
)
from poet_gui.core.replay.report import AUTOGRAD_TOLERANCE, CPU_TORCH_COMMAND, EXTRA_COMMAND, ReplayReport, report_text
from poet_gui.core.solve.planner import VerifiedPlan
from poet_gui.ui.plots.memory import MemoryPlot
from poet_gui.ui.state import AppState, Session, SolvePhase

#: SGD steps a replay runs: two, so the check also covers a step taken after an update of the weights.
REPLAY_STEPS = 2
#: How often the elapsed time in the status bar is redrawn, ms.
_TICK_MS = 200
#: How long a killed child may take to be reaped, ms (SIGKILL: microseconds in practice).
_REAP_MS = 3000
_FAIL_STYLE = "color: #b00020;"
#: A child's error line is cut to this many characters in the status bar (all of it is in the dialog).
_SHORT_CHARS = 80


def unavailable_reason(session: Session) -> str:
    """Why the plan on show cannot be replayed, in words for the action's tooltip; "" if it can."""
    refusal = replay_refusal(session.graph, session.model.graph_path)  # the model first: no plan would do
    result = session.result
    if refusal or result is None:
        return refusal or "No plan yet: solve the budgets first (Ctrl+R)."
    if result.sim is None:
        return f"No plan to replay: {result.plan.message or result.plan.status.value}."
    if session.phase is SolvePhase.SOLVING:
        return "The solver is still working on this plan: replay its answer."
    return ""


def replay_status_text(r: ReplayReport) -> str:
    """The status bar's two lines for a replay that ran: the gradient check, then the memory check and
    the allocator's peak; a failure in plain words. The whole report (keep-all's peak, paging, time,
    the first differing operation) is the label's tooltip."""
    grads = "gradients identical to keep-all" if r.gradients_identical else "gradients DIFFER from keep-all"
    autograd = f"max rel. diff vs autograd {r.max_rel_diff_vs_autograd:.2g}"
    if r.max_rel_diff_vs_autograd > AUTOGRAD_TOLERANCE:
        autograd += f", OVER the {AUTOGRAD_TOLERANCE:g} allowed"
    memory = (
        "resident bytes match the prediction"
        if r.resident_bytes_match
        else "resident bytes DIFFER from the prediction (hover for where)"
    )
    head = "Replay" if r.is_faithful else "Replay FAILED"
    return f"{head}: {grads}, {autograd},\n{memory}; allocator peak {format_bytes(r.measured_peak_bytes_plan)}"


class ReplayController(QObject):
    """Owns the replay action, its child process, and the status bar's replay widgets.

    :attr:`ended` fires once per replay, however it ends, with the status line it left (scripts and
    tests wait on it); :attr:`reported` fires with the report of a replay that ran.
    """

    ended = Signal(str)
    reported = Signal(object)  # ReplayReport

    def __init__(self, state: AppState, window: QMainWindow, memory: MemoryPlot) -> None:
        super().__init__(window)
        self._state = state
        self._window = window
        self._memory = memory
        self._process: QProcess | None = None
        self._folder: Path | None = None
        self._replayed: VerifiedPlan | None = None  # the plan being replayed, or whose replay is on show
        self._stderr = ""
        self._progress: tuple[float, str] | None = None
        self._clock = QElapsedTimer()
        self._ticker = QTimer(self)
        self._ticker.setInterval(_TICK_MS)
        self._ticker.timeout.connect(self._show_progress)

        self.action = QAction("&Replay on this machine", self)
        self.action.setIconText("Replay")  # the toolbar's label
        self.action.triggered.connect(self.start)
        # Two short lines beside the plan's status, not one line as wide again: at 1366 px both fit.
        self._label = QLabel()
        self._bar = QProgressBar()
        self._bar.setFixedWidth(120)
        self._bar.setTextVisible(False)
        self._cancel_button = QPushButton("Cancel replay")
        self._cancel_button.setToolTip("Stop the replay now (kills its process and removes its files)")
        self._cancel_button.clicked.connect(self._on_cancel_button_clicked)
        bar = window.statusBar()
        for widget in (self._label, self._bar, self._cancel_button):
            bar.addPermanentWidget(widget)
            widget.hide()
        state.changed.connect(self._on_state_changed)
        self._on_state_changed(state.session)

    @property
    def is_running(self) -> bool:
        return self._process is not None

    @property
    def child_pid(self) -> int | None:
        """The replay process's id while it runs (for tests and diagnostics)."""
        return None if self._process is None else int(self._process.processId()) or None

    def status(self) -> str:
        """The replay's line in the status bar ("" when there is none)."""
        return self._label.text() if self._label.isVisibleTo(self._window) else ""

    # --- starting ----------------------------------------------------------------------------------
    @Slot()
    def start(self) -> bool:
        """Replay the plan on show in a child process; False if it cannot start (the reason was shown)."""
        session = self._state.session
        reason = "A replay is already running." if self.is_running else unavailable_reason(session)
        if reason:
            QMessageBox.information(self._window, "Cannot replay this plan", reason)
            return False
        if importlib.util.find_spec("torch") is None:
            QMessageBox.information(
                self._window, "Replay needs PyTorch",
                f"Replay runs the plan on the real model with PyTorch, which this Python ({sys.executable}) "
                f"does not have. Get its CPU build (the registry's default torch is the multi-GB CUDA one) "
                f"and the replay extra, in POET Studio's folder:\n\n{CPU_TORCH_COMMAND}\n{EXTRA_COMMAND}",
            )  # fmt: skip
            return False
        assert session.result is not None and session.model.graph_path is not None  # unavailable_reason said so
        folder = Path(tempfile.mkdtemp(prefix="poet-replay-"))
        try:
            save_plan(session.result, folder / "plan.json", options=session.options)
        except PoetError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            self._show_failure(f"could not write the plan for the replay: {exc}")
            return False
        self._folder, self._replayed = folder, session.result
        self._stderr, self._progress = "", None
        self._memory.show_measured(None)
        process = QProcess(self)
        process.setProgram(sys.executable)
        process.setArguments(replay_arguments(folder / "plan.json", Path(session.model.graph_path), folder / "flash",
                                              REPLAY_STEPS))  # fmt: skip
        process.setProcessEnvironment(_child_environment())
        if sys.platform != "win32":  # its own session: a cancel kills it and anything it started, at once
            process.setUnixProcessParameters(QProcess.UnixProcessFlag.CreateNewSession)
        process.readyReadStandardError.connect(self._on_process_ready_read_standard_error)
        process.finished.connect(self._on_process_finished)
        process.errorOccurred.connect(self._on_process_error_occurred)
        self._process = process
        self._clock.start()
        self._ticker.start()
        self._bar.setRange(0, 0)  # busy until the child reports its first step (PyTorch takes seconds to load)
        for widget in (self._label, self._bar, self._cancel_button):
            widget.show()
        self._label.setStyleSheet("")
        self._label.setToolTip("")
        self._label.setMinimumWidth(0)
        self._show_progress()
        self._update_action(session)
        process.start()
        return True

    # --- ending ------------------------------------------------------------------------------------
    def cancel(self, why: str = "") -> None:
        """Kill the replay at once (its whole process session) and remove its plan and storage files;
        ``why`` ends the status line when it was not the user's Cancel."""
        if self._process is None:
            return
        elapsed = self._clock.elapsed() / 1000
        self._stop_process(kill=True)
        self._replayed = None
        self._end(f"Replay cancelled after {elapsed:.1f} s{': ' + why if why else ''}.", is_failure=False)

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.cancel()

    def shutdown(self) -> None:
        """The window closes: leave no replay process or files behind."""
        self.cancel()

    @Slot()
    def _on_process_ready_read_standard_error(self) -> None:
        if self._process is None:
            return
        self._stderr += self._process.readAllStandardError().data().decode(errors="replace")
        for line in self._stderr[: self._stderr.rfind("\n") + 1].splitlines():  # whole lines only
            progress = parse_progress(line)
            if progress is not None:
                self._progress = progress
        self._show_progress()

    @Slot(int, QProcess.ExitStatus)
    def _on_process_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        process = self._process
        if process is None:
            return
        elapsed = self._clock.elapsed() / 1000
        stdout = process.readAllStandardOutput().data().decode(errors="replace")
        self._stderr += process.readAllStandardError().data().decode(errors="replace")
        self._stop_process(kill=False)
        if exit_status is QProcess.ExitStatus.CrashExit:
            self._show_failure(f"the replay process was killed unexpectedly after {elapsed:.1f} s")
        elif exit_code in (0, 1):  # a report: every check held (0) or one failed (1)
            try:
                report = ReplayReport.from_json(_json_object(stdout))
            except ReplayError as exc:  # no report: a crash (Python exits 1 too) says most in its last line
                detail = error_line(self._stderr)
                self._show_failure(f"the replay process failed: {detail}" if detail else str(exc))
                return
            self._memory.show_measured(report.resident_bytes)
            self._label.setToolTip(f"{report_text(report)}\nthe replay took {elapsed:.1f} s in all")
            self._end(replay_status_text(report), is_failure=not report.is_faithful)
            self.reported.emit(report)
        else:  # 2: bad input, one line on stderr; anything else is a bug, of which the last line says most
            detail = error_line(self._stderr) or f"it exited with code {exit_code} and no message"
            self._show_failure(detail if exit_code == 2 else f"the replay process failed: {detail}")

    @Slot(QProcess.ProcessError)
    def _on_process_error_occurred(self, error: QProcess.ProcessError) -> None:
        if self._process is None or error is not QProcess.ProcessError.FailedToStart:
            return  # a crash or a read error also ends in finished(), which reports it
        text = f"could not start {sys.executable}: {self._process.errorString()}"
        self._stop_process(kill=False)
        self._show_failure(text)

    def _stop_process(self, *, kill: bool) -> None:
        """Forget the child (killing its session first if ``kill``) and remove the replay's files."""
        process, self._process = self._process, None
        if process is not None:
            process.blockSignals(True)
            if kill and process.state() is not QProcess.ProcessState.NotRunning:
                pid = int(process.processId())
                if sys.platform != "win32" and pid > 0:
                    with contextlib.suppress(ProcessLookupError):  # it ended on its own a moment ago
                        os.killpg(pid, signal.SIGKILL)
                process.kill()
                process.waitForFinished(_REAP_MS)
            process.deleteLater()
        self._ticker.stop()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def _show_failure(self, detail: str) -> None:
        self._replayed = None
        self._label.setToolTip(detail)
        short = detail if len(detail) <= _SHORT_CHARS else detail[: _SHORT_CHARS - 1] + "…"
        self._end(f"Replay could not run:\n{short}", is_failure=True)
        QMessageBox.warning(self._window, "Replay could not run", detail)

    def _end(self, text: str, *, is_failure: bool) -> None:
        self._bar.hide()
        self._cancel_button.hide()
        self._label.setMinimumWidth(0)
        self._set_text(text)
        self._label.setStyleSheet(_FAIL_STYLE if is_failure else "")
        self._label.show()
        self._update_action(self._state.session)
        self.ended.emit(text)

    # --- showing -----------------------------------------------------------------------------------
    @Slot()
    def _show_progress(self) -> None:
        if self._process is None:
            return
        elapsed = self._clock.elapsed() / 1000
        if self._progress is None:
            step = "starting PyTorch"
        else:
            fraction, step = self._progress
            self._bar.setRange(0, 100)
            self._bar.setValue(round(100 * fraction))
        self._set_text(f"Replaying {REPLAY_STEPS} SGD steps… {elapsed:.1f} s\n{step}")

    def _set_text(self, text: str) -> None:
        """Show ``text`` whole: the plan's status beside it (stretched, the longer) gives way, since the
        replay's line is what the user just asked for. The width only grows while a replay runs, so the
        ticking clock does not make the status bar jitter."""
        self._label.setText(text)
        self._label.setMinimumWidth(max(self._label.minimumWidth(), self._label.sizeHint().width()))

    @Slot(object)
    def _on_state_changed(self, session: Session) -> None:
        if self._replayed is not None and session.result is not self._replayed:
            # Another plan on show: a replay of the old one no longer describes it. A finished one's
            # line goes; a running one is stopped, saying so.
            if self.is_running:
                self.cancel("another plan is on show")
            else:
                self._label.hide()
            self._replayed = None
            self._memory.show_measured(None)
        self._update_action(session)

    def _update_action(self, session: Session) -> None:
        reason = "A replay is running: Cancel replay stops it." if self.is_running else unavailable_reason(session)
        self.action.setEnabled(not reason)
        tip = reason or (
            f"Run {REPLAY_STEPS} training steps of this plan on the real model with PyTorch, in a child process; "
            "overlay the measured RAM and check the gradients against plain backprop"
        )
        self.action.setToolTip(tip)
        self.action.setStatusTip(tip)


def _child_environment() -> QProcessEnvironment:
    """This environment, with the folder the app's own ``poet_gui`` comes from first on the path, so the
    child replays with the same code (a checkout run in place, or the installed package), and this
    process named as its requester, so the child ends if the app dies without cancelling it."""
    env = QProcessEnvironment.systemEnvironment()
    root = str(Path(poet_gui.__file__).resolve().parents[1])
    path = env.value("PYTHONPATH", "")
    env.insert("PYTHONPATH", root + (os.pathsep + path if path else ""))
    env.insert(REQUESTER_PID_VARIABLE, str(os.getpid()))
    return env


def _json_object(stdout: str) -> object:
    """The one JSON object a ``--json`` replay printed (a ReplayError if it printed something else)."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"the replay printed no report ({exc.msg} at character {exc.pos})") from None
