"""The eviction bound: a valid lower bound on every plan's energy, tight where the benchmark says so,
and the two shortcuts that use it to prove a plan optimal without a full branch and bound."""

from __future__ import annotations

import numpy as np
import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.zoo import build_model as build_zoo
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.schedule.problem import Switches, make_problem
from poet_gui.core.schedule.reference_points import reference_points_of
from poet_gui.core.solve.eviction_bound import attaining_restriction, eviction_bound
from poet_gui.core.solve.heuristics import best_heuristic_plan
from poet_gui.core.solve.milp import SolverOptions, solve_milp
from poet_gui.core.solve.milp_model import Family, build_model
from poet_gui.core.solve.milp_plain import solve_plain
from poet_gui.core.solve.planner import plan_problem

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulp")

LITERAL = SolverOptions(time_limit_s=60.0, rel_gap=1e-8)


def _bound(problem):
    return eviction_bound(problem, time_limit_s=5.0, threads=1)


def test_the_bound_equals_the_literal_models_optimum_where_the_benchmark_found_it_tight(linear, a72) -> None:
    problem = make_problem(linear, a72, ram_budget_bytes=3708, runtime_factor=1.2)
    literal, _ = solve_plain(problem, LITERAL)
    bound = _bound(problem)
    assert literal.status is SolveStatus.OPTIMAL
    assert problem.plain_energy_j < bound.energy_j
    assert bound.energy_j == pytest.approx(literal.energy_j, rel=1e-9)
    assert bound.evicted  # the tensors the optimum drops and brings back once each


def test_a_plain_schedule_that_fits_needs_no_eviction(linear, a72) -> None:
    plain_peak = reference_points_of(linear, a72).plain_peak_ram_bytes
    problem = make_problem(linear, a72, ram_budget_bytes=plain_peak, runtime_factor=1.0)
    bound = _bound(problem)
    assert bound.energy_j == problem.plain_energy_j and bound.evicted == ()


def test_the_bound_only_rises_as_the_budget_shrinks(linear, a72) -> None:
    energies = [_bound(make_problem(linear, a72, ram_budget_bytes=b, runtime_factor=1.2)).energy_j
                for b in (7416, 6000, 5000, 4000, 3708, 3400, 3256)]  # fmt: skip
    assert energies == sorted(energies)


def test_each_switch_limits_the_ways_back(linear, a72) -> None:
    def bound_with(**switches):
        problem = make_problem(linear, a72, ram_budget_bytes=3708, runtime_factor=1.2, switches=Switches(**switches))
        return _bound(problem)

    both = bound_with().energy_j
    assert bound_with(paging=False).energy_j >= both
    assert bound_with(remat=False).energy_j >= both
    assert bound_with(paging=False, remat=False) is None  # nothing can leave RAM, and the plain pass does not fit


def test_the_restriction_fixes_every_tensor_the_bound_keeps(linear, a72) -> None:
    problem = make_problem(linear, a72, ram_budget_bytes=3708, runtime_factor=1.2)
    model = build_model(problem)
    bound = _bound(problem)
    free, fixed = attaining_restriction(model, bound)
    droppable = set(bound.evicted) | set(bound.free_return)
    last_use = problem.graph.last_use
    for fam, index in model.index.items():
        for t, i in zip(*np.nonzero(index >= 0), strict=True):
            col = index[t, i]
            if i in droppable:
                assert free[col]
            elif fam is Family.RESIDENT and t <= last_use[i]:
                assert not free[col] and fixed[col] == 1.0  # kept from computation to last reader
            elif fam is not Family.RESIDENT:
                assert not free[col] and fixed[col] == 0.0  # never recomputed or paged
    assert free[~model.is_integer].all()  # RAM levels and frees follow the decisions
    assert free[model.is_integer].sum() < 0.6 * model.is_integer.sum()


def test_a_plan_dropping_only_the_bounds_tensors_proves_optimality_at_once(linear, a72) -> None:
    problem = make_problem(linear, a72, ram_budget_bytes=3708, runtime_factor=1.2)
    plan = plan_problem(problem, SolverOptions()).plan
    assert plan.status is SolveStatus.OPTIMAL
    assert (
        plan.message
        == "proven optimal: a plan that drops only the tensors the eviction lower bound names meets that bound"
    )
    assert plan.bound_j == pytest.approx(_bound(problem).energy_j) and plan.gap <= 1e-6


def test_a_heuristic_plan_meeting_the_bound_is_optimal_without_a_search() -> None:
    """linear on m4 at its least RAM: the best heuristic's plan already costs what the bound says."""
    graph, profile = build_zoo("linear"), load_profile("m4")
    problem = make_problem(graph, profile, ram_budget_bytes=3256, runtime_factor=1.2)
    heuristic = best_heuristic_plan(problem)
    assert heuristic.energy_j == pytest.approx(_bound(problem).energy_j, rel=1e-9)
    plan = solve_milp(problem, SolverOptions(), start=heuristic.decisions)
    assert plan.status is SolveStatus.OPTIMAL
    assert plan.message == "proven optimal: the heuristic plan meets the eviction lower bound"
    assert plan.energy_j == pytest.approx(heuristic.energy_j, rel=1e-12)


def test_where_the_bound_is_not_reached_branch_and_bound_still_proves_the_optimum(bound_gap) -> None:
    literal, _ = solve_plain(bound_gap, LITERAL)
    plan = plan_problem(bound_gap, SolverOptions(rel_gap=1e-8)).plan
    assert _bound(bound_gap).energy_j < literal.energy_j * (1 - 1e-3)
    assert plan.status is SolveStatus.OPTIMAL
    assert plan.energy_j == pytest.approx(literal.energy_j, rel=1e-6)


def test_the_runtime_budget_limits_the_ways_back(linear, a72) -> None:
    """At factor 1.0 no recomputation with a cost fits, so the bound prices dropped tensors at their
    paging energy (only 0-FLOP tensors come back by recomputation) and meets the literal optimum."""
    problem = make_problem(linear, a72, ram_budget_bytes=3300, runtime_factor=1.0)
    literal, _ = solve_plain(problem, LITERAL)
    assert _bound(problem).energy_j == pytest.approx(literal.energy_j, rel=1e-9)
    looser = make_problem(linear, a72, ram_budget_bytes=3300, runtime_factor=3.0)
    assert _bound(looser).energy_j < _bound(problem).energy_j
