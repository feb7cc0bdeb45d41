"""When solves run: the main solve of the session on show, and the background trade-off sweep.

The controller turns "the inputs changed" into a solve after a short pause in the motion (a slider
drag produces dozens of positions; solving each would waste the CPU on budgets the user has left),
cancels (kills) the solve in flight whenever a newer one starts, and writes what the solver reports
into the :class:`~poet_gui.ui.state.AppState`. The window only presents that state.

The solve on show comes first: the sweep is paused while a solve runs or is pending, and resumes when
it ends. On a 2-core machine a sweep point and the main solve running together halve the main
solve's speed, and its plan within the time limit is what the user is waiting for.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from poet_gui.core.errors import PoetError
from poet_gui.core.solve.milp import Progress
from poet_gui.core.solve.planner import VerifiedPlan
from poet_gui.ui.state import AppState, Session, SolvePhase
from poet_gui.ui.sweep_job import SweepRunner
from poet_gui.ui.workers import JobRunner, SolveJob

#: Pause in a slider's motion before a new solve starts: long enough to skip intermediate positions,
#: short enough to feel live.
DEBOUNCE_MS = 300
#: How often the status line's elapsed time is refreshed while a solve runs.
TICK_MS = 100


class SolveController(QObject):
    """Runs the session's solve and the background sweep; owns the worker threads of both."""

    solve_ended = Signal(object)  # Session, after a final answer, failure or cancel
    crashed = Signal(str)  # the solver's traceback, when it failed by a bug (the window shows a dialog)
    ticked = Signal()  # while a solve runs: time to refresh the elapsed time on show

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._runner = JobRunner(self)
        self._job: SolveJob | None = None
        self._started = 0.0
        self._ended = 0.0
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.solve_now)
        self._ticker = QTimer(self, interval=TICK_MS)
        self._ticker.timeout.connect(self.ticked)
        self.sweeps = SweepRunner(self)

    @property
    def runner(self) -> JobRunner:
        """The worker that runs the main solve (tests reach the solver's child process through it)."""
        return self._runner

    def is_solving(self) -> bool:
        return self._job is not None

    def elapsed_s(self) -> float:
        """Seconds the solve on show has run (frozen when it ended, so a cancelled solve keeps its time)."""
        end = time.perf_counter() if self._job is not None else self._ended
        return max(0.0, end - self._started)

    @Slot()
    def solve_now(self) -> None:
        """Start a background solve of the current session, cancelling any running one."""
        self._debounce.stop()
        session = self._state.session
        try:
            problem = session.problem()
        except PoetError as exc:
            self._end()
            self._state.update(phase=SolvePhase.FAILED, message=str(exc), progress=None)
            return
        job = SolveJob(problem, session.options)
        # Bound slots of this QObject, not lambdas: a lambda has no thread of its own, so PySide6 would
        # run it on the worker thread that emits; a slot is queued to the GUI thread, and sender() then
        # tells which job answered.
        job.progressed.connect(self._on_job_progressed)
        job.interim.connect(self._on_job_interim)
        job.finished.connect(self._on_job_finished)
        job.failed.connect(self._on_job_failed)
        self._job = job
        self._started = time.perf_counter()
        self._ticker.start()
        self.sweeps.pause()
        self._runner.start(job, (job.finished, job.failed, job.cancelled))
        self._state.update(phase=SolvePhase.SOLVING, progress=None, message="")

    @Slot()
    def cancel(self) -> None:
        """Stop the solve in flight at once; the state keeps what it had shown (plan, bound, time)."""
        if self._job is None:
            return
        self._runner.cancel()
        self._end()
        self._state.update(phase=SolvePhase.CANCELLED, message="cancelled")
        self.solve_ended.emit(self._state.session)

    def schedule(self) -> None:
        """Inputs changed: drop the solve in flight and solve the new inputs after the debounce pause."""
        self._runner.cancel()
        self._job = None
        self.sweeps.pause()
        self._debounce.start()

    def hold(self) -> None:
        """Inputs are still moving (a slider is held): drop the solve in flight and start none yet."""
        self._debounce.stop()
        self._runner.cancel()
        self._job = None
        self._ticker.stop()
        self.sweeps.pause()
        if self._state.session.phase is SolvePhase.SOLVING:
            self._state.update(phase=SolvePhase.IDLE)

    def stop(self) -> None:
        """Drop the solve in flight and any pending one, without a "cancelled" state (a new session follows)."""
        self._debounce.stop()
        self._runner.cancel()
        self._end()

    def restart_sweep(self, session: Session) -> None:
        """Sketch the trade-off of ``session`` afresh; it waits while a solve runs or is pending."""
        self.sweeps.start(session, paused=self._job is not None or self._debounce.isActive())

    def shutdown(self) -> None:
        """Stop everything and wait for the worker threads (window close)."""
        self._debounce.stop()
        self._ticker.stop()
        self._job = None
        self._runner.shutdown()
        self.sweeps.shutdown()

    def _end(self) -> None:
        if self._job is not None:
            self._ended = time.perf_counter()
        self._job = None
        self._ticker.stop()
        if not self._debounce.isActive():
            self.sweeps.resume()

    @Slot(object)
    def _on_job_progressed(self, progress: Progress) -> None:
        if self.sender() is self._job:
            self._state.update(progress=progress)

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
            self._end()
        # The planner's final answer already falls back to its interim plan when the solver found
        # nothing better, so the final result always replaces what is shown.
        self._state.update(
            result=result,
            phase=SolvePhase.DONE if final else SolvePhase.SOLVING,
            message=result.plan.message,
        )
        if final:
            self.solve_ended.emit(self._state.session)

    @Slot(str, bool)
    def _on_job_failed(self, message: str, is_bug: bool) -> None:
        if self.sender() is not self._job:
            return
        self._end()
        self._state.update(phase=SolvePhase.FAILED, message=message.splitlines()[-1] if is_bug else message)
        if is_bug:
            self.crashed.emit(message)
        self.solve_ended.emit(self._state.session)
