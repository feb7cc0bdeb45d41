"""Fleet sweeps: models x devices x RAM budgets x runtime factors, one task per point.

A point is identified by its :func:`point_key`, a hash of everything its answer depends on (graph,
device figures, budgets, switches, solver options, program version). :func:`run_fleet` skips the
points whose key is already in the CSV, hands the rest to an executor (local worker processes here,
a Dask cluster in :mod:`~poet_gui.core.sweep.fleet_dask`) and writes every row into the CSV
atomically as it arrives, each key at most once: a killed sweep resumes where it stopped, and a
task that a cluster ran twice (a worker lost after finishing it) is still one row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from poet_gui import __version__
from poet_gui.core.device.profiles import PROFILES_DIR, DeviceProfile
from poet_gui.core.files.plan_io import graph_sha256
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.schedule.problem import Problem, Switches, make_problem
from poet_gui.core.schedule.reference_points import ReferencePoints, reference_points_of
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.planner import plan_problem
from poet_gui.core.sweep.fleet_csv import FleetRow, read_fleet_csv, write_fleet_csv
from poet_gui.core.sweep.tradeoff import run_in_workers


@dataclass(frozen=True, slots=True)
class FleetModel:
    """A model of the grid: how the CSV names it (a zoo name or the file as given, and its sizes)
    and its training graph."""

    name: str
    args: str
    graph: TrainingGraph


@dataclass(frozen=True)
class FleetTask:
    """One point to solve: everything a worker needs, and the key its row is filed under."""

    key: str
    model: str
    model_args: str
    problem: Problem
    options: SolverOptions


@dataclass(frozen=True, slots=True)
class FleetRun:
    """What a run did: points in the grid, solved now, and found in the CSV already."""

    points: int
    solved: int
    skipped: int


#: Runs tasks somewhere and passes each row to the callback as it arrives (in any order).
Executor = Callable[[Sequence[FleetTask], Callable[[FleetRow], None]], None]
#: The RAM budgets of one model on one device, given its reference points.
BudgetRule = Callable[[ReferencePoints], Sequence[float]]


def point_key(
    graph: TrainingGraph,
    profile: DeviceProfile,
    *,
    ram_budget_bytes: float,
    runtime_factor: float,
    switches: Switches,
    options: SolverOptions,
) -> str:
    """A hash (16 hex digits) of what a point's answer depends on. The profile's figures count, not
    the file it came from (the same device from another folder is the same point); the program's
    version counts, so a newer planner re-solves what an older one answered."""
    figures = {k: v for k, v in dataclasses.asdict(profile).items() if k != "source"}
    identity = {
        "graph_sha256": graph_sha256(graph),
        "profile": figures,
        "ram_budget_bytes": float(ram_budget_bytes),
        "runtime_factor": float(runtime_factor),
        "switches": dataclasses.asdict(switches),
        "options": {k: str(v) for k, v in dataclasses.asdict(options).items()},
        "version": __version__,
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fleet_tasks(
    models: Sequence[FleetModel],
    profiles: Sequence[DeviceProfile],
    *,
    budgets: BudgetRule,
    runtime_factors: Sequence[float],
    switches: Switches,
    options: SolverOptions,
) -> tuple[FleetTask, ...]:
    """Every point of the grid, in grid order, each key once (two budget rules that round to the
    same byte count are one point)."""
    tasks: dict[str, FleetTask] = {}
    for model in models:
        for profile in profiles:
            ref = reference_points_of(model.graph, profile, switches)
            for factor in runtime_factors:
                for budget in budgets(ref):
                    key = point_key(model.graph, profile, ram_budget_bytes=budget, runtime_factor=factor,
                                    switches=switches, options=options)  # fmt: skip
                    problem = make_problem(model.graph, profile, ram_budget_bytes=budget, runtime_factor=factor,
                                           switches=switches)  # fmt: skip
                    tasks.setdefault(key, FleetTask(key, model.name, model.args, problem, options))
    return tuple(tasks.values())


def profile_name(profile: DeviceProfile) -> str:
    """How a row names its device so that ``load_profile`` finds the same figures again: the key of a
    profile in the profiles folder, else the file it was read from (a calibrated ``/tmp/m4.toml`` is not
    the shipped m4, and two files of one stem are two devices)."""
    source = Path(profile.source) if profile.source else None
    if source is None or source.resolve() == (PROFILES_DIR / f"{profile.key}.toml").resolve():
        return profile.key
    return str(source.resolve())


def solve_task(task: FleetTask, cancel: threading.Event | None = None) -> FleetRow:
    """Solve and verify one point in this process, with the solver's own time limit (so it also
    runs inside a daemonic Dask worker, which cannot start child processes); only the row travels
    back. ``cancel`` stops the solver at its next callback."""
    result = plan_problem(task.problem, task.options, cancel=cancel)
    plan, sim, ref = result.plan, result.sim, result.reference
    p = plan.problem
    params = p.costs.param_bytes
    return FleetRow(
        key=task.key,
        model=task.model,
        model_args=task.model_args,
        profile=profile_name(p.profile),
        ram_budget_bytes=p.ram_budget_bytes,
        runtime_factor=p.runtime_factor,
        status=plan.status.value,
        energy_j=None if sim is None else sim.energy_j,
        gap=plan.gap,
        solve_s=plan.solve_s,
        runtime_s=None if sim is None else sim.runtime_s,
        peak_ram_bytes=None if sim is None else sim.peak_ram_bytes,
        fits_device=result.fit.fits_device,
        device_ram_bytes=None if p.profile.ram_bytes is None else float(p.profile.ram_bytes),
        param_bytes=float(params),
        least_ram_bytes=ref.min_ram_bytes + (params if p.switches.budget_includes_params else 0.0),
        plain_energy_j=ref.plain_energy_j,
        paging=p.switches.paging,
        remat=p.switches.remat,
        count_paging_time=p.switches.count_paging_time,
        budget_includes_params=p.switches.budget_includes_params,
    )


def local_executor(jobs: int) -> Executor:
    """Run tasks in ``jobs`` local worker processes (:func:`~poet_gui.core.sweep.tradeoff.run_in_workers`)."""

    def execute(tasks: Sequence[FleetTask], on_row: Callable[[FleetRow], None]) -> None:
        run_in_workers(solve_task, tasks, jobs=jobs, on_result=on_row)

    return execute


def done_keys(csv_path: Path) -> frozenset[str]:
    """The keys of the points a fleet CSV already holds (none if there is no file yet)."""
    csv_path = Path(csv_path)
    return frozenset(row.key for row in read_fleet_csv(csv_path)) if csv_path.exists() else frozenset()


def run_fleet(
    tasks: Sequence[FleetTask],
    csv_path: Path,
    execute: Executor,
    *,
    on_row: Callable[[FleetRow], None] | None = None,
) -> FleetRun:
    """Solve the tasks whose key the CSV lacks and stream each row into it as it arrives.

    Rows already in the file are kept (those of other grids too); nothing is written when every
    point is there, so a finished sweep run again leaves its file untouched. ``on_row`` sees each
    new row after it is on disk. An interruption propagates from ``execute`` with every row
    received so far already written.
    """
    csv_path = Path(csv_path)
    rows = {row.key: row for row in read_fleet_csv(csv_path)} if csv_path.exists() else {}
    todo = [task for task in tasks if task.key not in rows]
    wanted = {task.key for task in todo}
    solved = 0

    def record(row: FleetRow) -> None:
        nonlocal solved
        if row.key in rows or row.key not in wanted:
            return  # a task a cluster ran twice (a lost worker's finished task rerun): one row only
        rows[row.key] = row
        solved += 1
        write_fleet_csv(rows.values(), csv_path)
        if on_row is not None:
            on_row(row)

    if todo:
        execute(todo, record)
    return FleetRun(points=len(tasks), solved=solved, skipped=len(tasks) - len(todo))
