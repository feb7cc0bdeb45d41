"""Background trade-off sweep for the current model and device, one killable child solve per point.

The sweep can be paused while the main solve runs (it must not take the CPU from the plan the user
waits for): a point in flight is then killed and solved again on resume, because a sweep point takes
a few seconds at most and a half-finished one has nothing worth keeping.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from PySide6.QtCore import QObject, Signal, Slot

from poet_gui.core.errors import PoetError
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.solve_process import Failed, Finished, SolveProcess
from poet_gui.core.sweep.tradeoff import SweepPoint, budget_grid
from poet_gui.ui.state import Session
from poet_gui.ui.workers import JobRunner

#: Points per runtime factor and the time each may take: the sweep is a sketch of the trade-off,
#: the main solve gives the exact answer for the chosen budgets.
SWEEP_POINTS = 8
SWEEP_TIME_LIMIT_S = 5.0
#: How often a paused or running point checks for cancel / pause.
_POLL_S = 0.05


class _Paused(Exception):
    """The point in flight was interrupted by a pause; solve it again on resume."""


class SweepJob(QObject):
    """Solves the grid point by point and emits every finished point; stops on cancel."""

    point_done = Signal(object)  # SweepPoint
    done = Signal()

    def __init__(self, session: Session, *, paused: bool = False) -> None:
        super().__init__()
        self._session = session
        self._cancel = threading.Event()
        self._may_run = threading.Event()
        if not paused:
            self._may_run.set()

    def cancel(self) -> None:
        self._cancel.set()

    def pause(self) -> None:
        """Stop solving (any thread): the point in flight is killed and redone on :meth:`resume`."""
        self._may_run.clear()

    def resume(self) -> None:
        self._may_run.set()

    def is_paused(self) -> bool:
        return not self._may_run.is_set()

    @Slot()
    def run(self) -> None:
        try:
            self._run_points()
        except (PoetError, OSError):
            pass  # a point that cannot be solved leaves a gap in the sketch; the main solve reports it
        finally:
            self.done.emit()  # always: it ends the worker thread

    def _run_points(self) -> None:
        s = self._session
        options = replace(s.options, time_limit_s=SWEEP_TIME_LIMIT_S)
        factors = sorted({round(s.runtime_factor, 2), 1.0, 2.0})
        for factor in factors:
            for ram in budget_grid(s.reference, SWEEP_POINTS, top_fraction=1.05):
                point = self._solve_when_allowed(s, ram, factor, options)
                if self._cancel.is_set():
                    return
                if point is not None:
                    self.point_done.emit(point)

    def _solve_when_allowed(self, s: Session, ram: float, factor: float, options: SolverOptions) -> SweepPoint | None:
        """Solve one point, waiting out pauses and redoing the point if a pause interrupted it."""
        while not self._cancel.is_set():
            if not self._may_run.wait(_POLL_S):
                continue
            try:
                return self._solve(s, ram, factor, options)
            except _Paused:
                continue
        return None

    def _solve(self, s: Session, ram: float, factor: float, options: SolverOptions) -> SweepPoint | None:
        try:
            problem = make_problem(s.graph, s.profile, ram_budget_bytes=ram, runtime_factor=factor, switches=s.switches)
        except PoetError:
            return None
        process = SolveProcess(problem, options)
        try:
            process.start()
        except Exception:  # no child, no point: the main solve tells the user why in one sentence
            return None
        try:
            while not self._cancel.is_set():
                if not self._may_run.is_set():
                    raise _Paused
                msg = process.receive(_POLL_S)
                if isinstance(msg, Finished):
                    return SweepPoint.of(msg.result)
                if isinstance(msg, Failed):
                    return None
            return None
        finally:
            process.kill()


class SweepRunner(QObject):
    """Keeps the sweep of the current model/device/switches running; a new start replaces the old."""

    points_changed = Signal(object)  # tuple[SweepPoint, ...]
    finished = Signal()  # the current sweep solved every point

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = JobRunner(self)
        self._points: list[SweepPoint] = []

    def start(self, session: Session, *, paused: bool = False) -> None:
        """Sweep ``session`` from scratch (``paused``: wait for :meth:`resume` before the first point)."""
        self._points = []
        self.points_changed.emit(())
        job = SweepJob(session, paused=paused)
        # Bound slots (not lambdas) so they run on the GUI thread; sender() tells the jobs apart.
        job.done.connect(self._on_job_done)
        job.point_done.connect(self._on_job_point_done)
        self._runner.start(job, (job.done,))

    def cancel(self) -> None:
        self._runner.cancel()

    def pause(self) -> None:
        """Let the main solve have the CPU: the current sweep stops until :meth:`resume`."""
        if isinstance(job := self._runner.current, SweepJob):
            job.pause()

    def resume(self) -> None:
        if isinstance(job := self._runner.current, SweepJob):
            job.resume()

    def is_paused(self) -> bool:
        return isinstance(job := self._runner.current, SweepJob) and job.is_paused()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._runner.shutdown(timeout_ms)

    @Slot(object)
    def _on_job_point_done(self, point: SweepPoint) -> None:
        if self.sender() is self._runner.current:
            self._points.append(point)
            self.points_changed.emit(tuple(self._points))

    @Slot()
    def _on_job_done(self) -> None:
        if self.sender() is self._runner.current:
            self.finished.emit()
