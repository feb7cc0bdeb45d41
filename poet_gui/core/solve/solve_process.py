"""Run a solve in a child process that can be stopped at once, relaying its progress.

Why a process and not a thread: measured here, CBC ignored its time limit and SIGINT for minutes on a
150k-variable model, and HiGHS ignored ``cancelSolve()`` and its time limit for over a minute, so an
in-process interrupt is not a cancel. The child runs in its own process group, so killing the group
also ends any solver binary it started (PuLP runs CBC as a subprocess); nothing is left behind. A
child whose requester died without killing it (``kill -9``) ends itself (:mod:`orphan_guard`), quietly.

Qt-free: the app wraps :class:`SolveProcess` in a worker thread; scripts and tests use it directly.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import traceback
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

from poet_gui.core.errors import PoetError, SolveError
from poet_gui.core.schedule.plan import Plan, SolveStatus
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.schedule.reference_points import reference_points
from poet_gui.core.solve.milp import Progress, SolverOptions
from poet_gui.core.solve.orphan_guard import end_group, end_with
from poet_gui.core.solve.planner import VerifiedPlan, plan_problem

# forkserver: forks come from a clean single-threaded server (safe beside Qt's threads) that has the
# engine imported already, so a solve starts in milliseconds rather than re-importing numpy/HiGHS.
_CONTEXT = mp.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["poet_gui.core.solve.solve_process"])


@dataclass(frozen=True, slots=True)
class Finished:
    """The solve ended with a result (which may still say "infeasible" or "no plan in time")."""

    result: VerifiedPlan


@dataclass(frozen=True, slots=True)
class Interim:
    """A quick, verified heuristic plan sent before the solver's answer, so a user sees a plan at once."""

    result: VerifiedPlan


@dataclass(frozen=True, slots=True)
class Failed:
    """The solve ended with an error; ``message`` is one readable line (a traceback if it is a bug)."""

    message: str
    is_bug: bool = False


Message = Progress | Interim | Finished | Failed


#: The least time a solve is given when its deadline is (almost) spent before it starts: enough for
#: the heuristic plan and the eviction bound, so the answer is a verified plan with an honest gap.
MIN_TIME_LIMIT_S = 0.2


class SolveProcess:
    """One solve in a child process: :meth:`start`, then :meth:`receive` until it returns a
    :class:`Finished` or :class:`Failed`; :meth:`kill` at any time stops it for good."""

    def __init__(self, problem: Problem, options: SolverOptions, *, deadline_s: float | None = None) -> None:
        """``deadline_s``: a ``time.monotonic()`` instant by which the solve must end; the child cuts its
        time limit to what is left when it starts (its own start-up is then inside the limit)."""
        self._problem = problem
        self._options = options
        self._deadline_s = deadline_s
        self._recv: Connection | None = None
        self._process: mp.process.BaseProcess | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        recv, send = _CONTEXT.Pipe(duplex=False)
        process = _CONTEXT.Process(
            target=_child_main,
            args=(send, self._problem, self._options, os.getpid(), self._deadline_s),
            daemon=True,
            name="poet-solve",
        )
        try:
            process.start()
        except BaseException:
            recv.close()
            raise
        finally:
            send.close()  # the child holds the only writer: EOF tells us it died
        # Only a started process is kept: kill() and close() of one that never started would fail.
        self._process = process
        self._recv = recv

    def receive(self, timeout_s: float) -> Message | None:
        """The next message, or None if none came within ``timeout_s``. A child that died without a
        word (killed by the OS, out of memory) yields a :class:`Failed`."""
        assert self._recv is not None, "start() first"
        try:
            if not self._recv.poll(timeout_s):
                return None
            return self._recv.recv()
        except (EOFError, OSError):
            code = None if self._process is None else self._process.exitcode
            return Failed(f"the solver process ended unexpectedly (exit code {code})")

    def kill(self) -> None:
        """Stop the child and everything it started; wait until it is gone."""
        proc = self._process
        if proc is None:
            return
        if proc.is_alive() and proc.pid is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        proc.join(timeout=5)
        self.close()

    def close(self) -> None:
        """Release the pipe and reap the child (call after a final message)."""
        if self._recv is not None:
            self._recv.close()
            self._recv = None
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.exitcode is not None:
                self._process.close()
                self._process = None


def solve_with_deadline(
    problem: Problem, options: SolverOptions, *, grace_s: float = 30.0, started_s: float | None = None
) -> VerifiedPlan:
    """Blocking solve for scripts and the CLI that ends by ``options.time_limit_s`` + ``grace_s``, even
    if the solver ignores its limit (CBC does): the child is then killed and the verified heuristic
    plan it sent first is returned, with the plain pass's energy as its bound; with none, "no plan in
    time". A failure in the child is raised here as a :class:`SolveError` with the child's message.

    The limit counts from ``started_s`` (a ``time.monotonic()`` instant; default now): the CLI passes
    its own start, so that loading the model and starting the child are inside the limit.
    """
    limit_ends = (time.monotonic() if started_s is None else started_s) + options.time_limit_s
    job = SolveProcess(problem, options, deadline_s=limit_ends)
    job.start()
    quick: VerifiedPlan | None = None
    deadline = max(limit_ends, time.monotonic() + MIN_TIME_LIMIT_S) + grace_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            msg = job.receive(min(left, 1.0))
            if isinstance(msg, Finished):
                return msg.result
            if isinstance(msg, Interim):
                quick = msg.result
            elif isinstance(msg, Failed):
                raise SolveError(msg.message)
    finally:
        job.kill()
    why = f"the solver overran its {options.time_limit_s:g} s time limit by {grace_s:g} s and was stopped"
    if quick is not None:
        plan = replace(quick.plan, status=SolveStatus.FEASIBLE, bound_j=problem.plain_energy_j,
                       message=f"{quick.plan.strategy} heuristic plan: {why}")  # fmt: skip
        return VerifiedPlan(plan, quick.sim, quick.reference)
    plan = Plan(problem, SolveStatus.TIME_LIMIT, f"milp-{options.solver.value}", None, message=why)
    return VerifiedPlan(plan, None, reference_points(problem))


def _child_main(
    conn: Connection, problem: Problem, options: SolverOptions, requester_pid: int, deadline_s: float | None
) -> None:
    os.setsid()  # own process group: kill() reaches solver binaries started from here
    end_with(requester_pid)

    def send(message: Message) -> None:
        """A pipe that broke means the requester is gone: end quietly, with any solver binary."""
        try:
            conn.send(message)
        except OSError:  # BrokenPipeError, ConnectionResetError
            end_group()

    if deadline_s is not None:
        options = replace(options, time_limit_s=max(MIN_TIME_LIMIT_S, deadline_s - time.monotonic()))
    try:
        result = plan_problem(problem, options, on_progress=send, on_interim=lambda quick: send(Interim(quick)))
        send(Finished(result))
    except PoetError as exc:
        send(Failed(str(exc)))
    except Exception:  # a bug: ship the traceback to the parent, which shows it
        send(Failed(traceback.format_exc(), is_bug=True))
    finally:
        conn.close()
