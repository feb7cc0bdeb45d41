"""Qt wrappers that run core work off the GUI thread and report back through signals.

:class:`SolveJob` drives a :class:`~poet_gui.core.solve.solve_process.SolveProcess` (a killable child
process) from a worker thread: the worker blocks on the child's pipe, never the GUI thread, and a
cancel kills the child's whole process group, so no solver is ever left running.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Sequence

from PySide6.QtCore import QObject, QThread, Signal, SignalInstance, Slot

from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.solve_process import Failed, Finished, Interim, SolveProcess

_POLL_S = 0.05


class SolveJob(QObject):
    """One solve. Signals are emitted from the worker thread and delivered queued to the GUI."""

    progressed = Signal(object)  # core.milp.Progress
    interim = Signal(object)  # core.planner.VerifiedPlan: a quick heuristic plan, before the optimum
    finished = Signal(object)  # core.planner.VerifiedPlan
    failed = Signal(str, bool)  # message, is_bug
    cancelled = Signal()

    def __init__(self, problem: Problem, options: SolverOptions) -> None:
        super().__init__()
        self.problem = problem
        self._options = options
        self._cancel = threading.Event()
        self.child_pid: int | None = None  # the solver process, once started (for tests and diagnostics)

    def cancel(self) -> None:
        """Ask the job to stop (any thread); the worker kills the child within one poll interval."""
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        """Runs on the worker thread: start the child, relay its messages, kill it on cancel."""
        process = SolveProcess(self.problem, self._options)
        try:
            process.start()
        except Exception as exc:  # whatever stops a child from starting, the user reads one line
            self.failed.emit(f"could not start the solver process: {exc or type(exc).__name__}", False)
            return
        try:
            self.child_pid = process.pid
            while not self._cancel.is_set():
                msg = process.receive(_POLL_S)
                if msg is None:
                    continue
                if isinstance(msg, Finished):
                    self.finished.emit(msg.result)
                    return
                if isinstance(msg, Interim):
                    self.interim.emit(msg.result)
                elif isinstance(msg, Failed):
                    self.failed.emit(msg.message, msg.is_bug)
                    return
                else:
                    self.progressed.emit(msg)
            self.cancelled.emit()
        except Exception:  # a bug: still end the job (and its thread) and show what happened
            self.failed.emit(traceback.format_exc(), True)
        finally:
            process.kill()


class JobRunner(QObject):
    """Owns at most one current job and its thread; starting a new job cancels the old one.

    A job is a QObject with a ``run`` slot and a thread-safe ``cancel()``; its ``end_signals`` stop
    its thread. Old jobs finish (are killed) in the background and are dropped when their thread
    ends, so the GUI never waits for a solver; :meth:`shutdown` waits for all of them, for a clean exit.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._current: QObject | None = None
        self._threads: dict[QThread, QObject] = {}

    @property
    def current(self) -> QObject | None:
        return self._current

    def start(self, job: QObject, end_signals: Sequence[SignalInstance]) -> None:
        self.cancel()
        thread = QThread(self)
        job.moveToThread(thread)
        thread.started.connect(job.run)
        for end in end_signals:
            end.connect(thread.quit)
        # A bound slot of this GUI-thread object, not a lambda: PySide runs a lambda in the emitting
        # (worker) thread, while a slot of a QObject is queued to the thread the object lives in.
        thread.finished.connect(self._on_thread_finished)
        self._threads[thread] = job
        self._current = job
        thread.start()

    def cancel(self) -> None:
        if self._current is not None:
            self._current.cancel()
            self._current = None

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel everything and wait for every worker thread (and so every child process) to end."""
        self.cancel()
        for thread, job in list(self._threads.items()):
            job.cancel()
            thread.quit()
            thread.wait(timeout_ms)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self.sender()
        job = self._threads.pop(thread, None)
        if job is self._current:
            self._current = None
        if job is not None:
            job.deleteLater()
        thread.deleteLater()
