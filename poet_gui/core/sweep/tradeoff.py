"""The energy/RAM trade-off: the same problem solved across a grid of budgets.

Shared by the app's trade-off plot and the command line, so both show the same data. Points are
solved independently; each carries its own honest status. :func:`solve_points` solves them in
parallel worker processes and :func:`write_sweep_csv` records them, one row per point.
"""

from __future__ import annotations

import csv
import io
import math
import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.errors import SolveError
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.schedule.reference_points import ReferencePoints
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.orphan_guard import end_with
from poet_gui.core.solve.planner import VerifiedPlan, plan_problem

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

#: Columns of the sweep CSV, in SI units; empty cells mean "no plan" (or no known gap).
CSV_COLUMNS = ("ram_budget_bytes", "runtime_factor", "status", "energy_j", "runtime_s", "peak_ram_bytes", "gap")


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One solved point: budgets, status and (when there is a plan) its verified figures."""

    ram_budget_bytes: float
    runtime_factor: float
    status: str
    energy_j: float | None
    runtime_s: float | None = None
    peak_ram_bytes: float | None = None
    gap: float | None = None

    @staticmethod
    def of(result: VerifiedPlan) -> SweepPoint:
        p, sim = result.plan, result.sim
        return SweepPoint(
            ram_budget_bytes=p.problem.ram_budget_bytes,
            runtime_factor=p.problem.runtime_factor,
            status=p.status.value,
            energy_j=None if sim is None else sim.energy_j,
            runtime_s=None if sim is None else sim.runtime_s,
            peak_ram_bytes=None if sim is None else sim.peak_ram_bytes,
            gap=p.gap,
        )


def budget_grid(ref: ReferencePoints, count: int, *, top_fraction: float = 1.0) -> tuple[float, ...]:
    """``count`` RAM budgets, geometrically spaced from the least RAM the model needs to
    ``top_fraction`` of the plain peak (whole bytes, ascending, without duplicates)."""
    lo = ref.min_ram_bytes
    hi = max(ref.plain_peak_ram_bytes * top_fraction, lo)
    if count <= 1 or math.isclose(lo, hi):
        return (float(math.ceil(hi)),)
    values = np.unique(np.ceil(np.geomspace(lo, hi, count)))
    return tuple(float(v) for v in values)


def solve_point(problem: Problem, options: SolverOptions) -> SweepPoint:
    """Solve and verify one point (in a worker process): only the small point travels back."""
    return SweepPoint.of(plan_problem(problem, options))


def solve_points(
    problems: Sequence[Problem],
    options: SolverOptions,
    *,
    jobs: int,
    on_point: Callable[[SweepPoint], None],
) -> tuple[SweepPoint, ...]:
    """Solve every problem in ``jobs`` worker processes; ``on_point`` gets each point as it finishes
    (in the order they finish). See :func:`run_in_workers` for what an interruption does."""
    points: list[SweepPoint] = []

    def record(point: SweepPoint) -> None:
        points.append(point)
        on_point(point)

    run_in_workers(partial(solve_point, options=options), problems, jobs=jobs, on_result=record)
    return tuple(points)


def run_in_workers(
    function: Callable[[_Item], _Result],
    items: Sequence[_Item],
    *,
    jobs: int,
    on_result: Callable[[_Result], None],
) -> None:
    """Call ``function`` on every item in ``jobs`` worker processes; ``on_result`` gets each result
    as it finishes. ``function`` and the items must be picklable (a module-level function).

    If anything interrupts the run (a Ctrl-C arrives here as :class:`KeyboardInterrupt`, or
    ``on_result`` raises), pending items are cancelled and every worker is terminated before the
    exception propagates, so no solver keeps running unseen; the results already passed to
    ``on_result`` are the caller's to keep. Workers ignore SIGINT themselves: a Ctrl-C in a terminal
    reaches the whole process group, and only this process decides what stops. If this process dies
    without that cleanup (``kill -9``), each worker ends itself with its solver
    (:mod:`~poet_gui.core.solve.orphan_guard`). forkserver: workers fork from a clean
    single-threaded server, safe beside the app's Qt threads.
    """
    if not items:
        return
    executor = ProcessPoolExecutor(
        max_workers=max(1, min(jobs, len(items))),
        mp_context=mp.get_context("forkserver"),
        initializer=_worker_setup,
        initargs=(os.getpid(),),
    )
    try:
        futures = [executor.submit(function, item) for item in items]
        for future in as_completed(futures):
            on_result(future.result())
    except BrokenProcessPool as exc:
        _terminate(executor)
        raise SolveError(f"a solver worker process died unexpectedly (out of memory?): {exc}") from exc
    except BaseException:
        _terminate(executor)
        raise
    executor.shutdown()


def _worker_setup(requester_pid: int) -> None:
    """Worker setup: Ctrl-C is the parent's to handle, and each worker leads its own process group
    so that stopping it also stops any solver binary it started (PuLP runs CBC as a subprocess); the
    group ends itself if ``requester_pid`` dies without stopping it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.setsid()
    end_with(requester_pid)


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now, waiting until each one is gone.

    ``ProcessPoolExecutor`` on Python 3.11 has no public way to stop a running task (3.14 adds
    ``terminate_workers``), and a MILP can run for minutes, so the workers are terminated directly.
    """
    processes = list((executor._processes or {}).values())
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the worker and the solver it may have started
        except (ProcessLookupError, PermissionError):
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        process.join()


def sorted_points(points: Iterable[SweepPoint]) -> list[SweepPoint]:
    """Points by runtime factor, then RAM budget: the order of the CSV and of each plotted line."""
    return sorted(points, key=lambda p: (p.runtime_factor, p.ram_budget_bytes))


def sweep_csv(points: Iterable[SweepPoint]) -> str:
    """The CSV text of ``points`` (see :data:`CSV_COLUMNS`), sorted by factor then budget.

    Numbers are written exactly (``repr``), whole numbers without a fraction; a point without a plan
    has empty figure cells, so a spreadsheet reads them as missing rather than as zero.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in sorted_points(points):
        writer.writerow(
            (
                _csv_number(p.ram_budget_bytes),
                _csv_number(p.runtime_factor),
                p.status,
                *(_csv_number(v) for v in (p.energy_j, p.runtime_s, p.peak_ram_bytes, p.gap)),
            )
        )
    return out.getvalue()


def write_sweep_csv(points: Iterable[SweepPoint], path: Path) -> None:
    """Write :func:`sweep_csv` atomically: an interrupted sweep leaves the previous complete file."""
    write_text_atomic(Path(path), sweep_csv(points))


def _csv_number(value: float | None) -> str:
    if value is None:
        return ""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
