"""Solving in a child process: a solver that ignores its time limit is stopped, and nothing is left."""

from __future__ import annotations

import time
from pathlib import Path

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.schedule.reference_points import reference_points
from poet_gui.core.solve.milp import Solver, SolverOptions
from poet_gui.core.solve.solve_process import solve_with_deadline


def running_solver_binaries() -> list[int]:
    """PIDs of live (not zombie) CBC processes on this machine."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            comm = (proc / "comm").read_text().strip()
            state = (proc / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if comm == "cbc" and state not in ("Z", "X"):
            found.append(int(proc.name))
    return found


def test_an_overrunning_solver_is_stopped_and_the_heuristic_plan_kept() -> None:
    """CBC through PuLP needs far longer than 0.5 s just to read this model; the deadline ends it."""
    graph = build_model("resnet18_cifar", resolution=8)
    profile = load_profile("a72")
    peak = reference_points(make_problem(graph, profile, ram_budget_bytes=1, runtime_factor=1.5)).plain_peak_ram_bytes
    problem = make_problem(graph, profile, ram_budget_bytes=round(0.6 * peak), runtime_factor=1.5)
    before = set(running_solver_binaries())
    started = time.monotonic()
    result = solve_with_deadline(problem, SolverOptions(solver=Solver.CBC, time_limit_s=0.5), grace_s=1.5)
    assert time.monotonic() - started < 15
    assert result.plan.status in (SolveStatus.FEASIBLE, SolveStatus.TIME_LIMIT)
    assert "overran" in result.plan.message
    if result.plan.status is SolveStatus.FEASIBLE:
        assert result.sim is not None and result.sim.peak_ram_bytes <= problem.ram_budget_bytes
        assert result.plan.bound_j == problem.plain_energy_j
    time.sleep(0.5)
    assert set(running_solver_binaries()) <= before


def test_a_normal_solve_returns_the_solvers_answer() -> None:
    problem = make_problem(build_model("linear"), load_profile("a72"), ram_budget_bytes=3708, runtime_factor=1.5)
    result = solve_with_deadline(problem, SolverOptions(time_limit_s=30))
    assert result.plan.status is SolveStatus.OPTIMAL
    assert abs(result.sim.energy_j - 0.006599079142224101) <= 1e-9 * 0.0066
