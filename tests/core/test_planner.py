"""The planner facade: every plan it returns is verified, every "no plan" says why, tampering is caught."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from poet_gui.core.errors import ScheduleError
from poet_gui.core.schedule.plan import Decisions, SolveStatus
from poet_gui.core.schedule.problem import Switches, make_problem
from poet_gui.core.schedule.reference_points import reference_points
from poet_gui.core.solve import planner as planner_module
from poet_gui.core.solve.milp import SolverOptions, solve_milp
from poet_gui.core.solve.planner import plan_problem, verify

OPTIONS = SolverOptions(time_limit_s=60.0, rel_gap=1e-8)


def _problem(graph, profile, budget, factor, **switches):
    return make_problem(graph, profile, ram_budget_bytes=budget, runtime_factor=factor, switches=Switches(**switches))


@pytest.fixture
def no_solver(monkeypatch):
    """Make any call to the MILP fail the test: the planner must answer without it."""

    def refuse(*args, **kwargs):
        raise AssertionError("the planner called the solver for a problem it can answer without one")

    monkeypatch.setattr(planner_module, "solve_milp", refuse)


@pytest.mark.parametrize(
    ("budget", "factor", "switches"),
    [
        (3400, 1.3, {}),
        (3500, 1.1, {}),
        (3600, 1.3, {"paging": False}),
        (3256, 1.0, {"remat": False}),
        (7416, 1.0, {}),  # the plain peak: the plain schedule, no solver needed
    ],
)
def test_plans_are_verified_by_the_simulator(linear, a72, budget, factor, switches) -> None:
    p = _problem(linear, a72, budget, factor, **switches)
    vp = plan_problem(p, OPTIONS)
    assert vp.plan.status is SolveStatus.OPTIMAL
    assert vp.is_verified and vp.sim is not None
    assert vp.sim.energy_j == pytest.approx(vp.plan.energy_j, rel=1e-9)
    assert vp.sim.peak_ram_bytes <= budget
    charged = vp.sim.runtime_s if p.switches.count_paging_time else vp.sim.compute_s
    assert charged <= p.runtime_budget_s * (1 + 1e-9)
    assert vp.reference == reference_points(p)
    assert vp.plan.energy_j >= vp.reference.plain_energy_j * (1 - 1e-12)
    # The facade answers what the solver answers.
    assert vp.plan.energy_j == pytest.approx(solve_milp(p, OPTIONS).energy_j, rel=1e-6)


def test_a_plan_on_a_diamond_graph_is_verified(diamond_graph, a72) -> None:
    vp = plan_problem(_problem(diamond_graph, a72, 2816, 1.3), OPTIONS)
    assert vp.plan.status is SolveStatus.OPTIMAL and vp.is_verified
    assert vp.sim.peak_ram_bytes <= 2816
    assert vp.plan.energy_j > vp.reference.plain_energy_j  # below the plain peak (3,520 B) it costs


def test_the_plain_schedule_is_returned_when_it_fits(linear, a72, no_solver) -> None:
    p = _problem(linear, a72, 10_000, 1.0)
    vp = plan_problem(p, OPTIONS)
    assert vp.plan.status is SolveStatus.OPTIMAL
    assert vp.plan.energy_j == pytest.approx(p.plain_energy_j, rel=1e-12)
    assert vp.plan.bound_j == vp.plan.energy_j
    assert vp.sim.peak_ram_bytes == vp.reference.plain_peak_ram_bytes == 7416
    assert vp.plan.decisions.recomputes == vp.sim.recomputes == 0


def test_below_min_ram_is_infeasible_at_once_with_the_least_ram(linear, a72, no_solver) -> None:
    vp = plan_problem(_problem(linear, a72, 3255, 10.0), OPTIONS)
    assert vp.plan.status is SolveStatus.INFEASIBLE
    assert vp.plan.decisions is None and vp.sim is None and not vp.is_verified
    assert "3,256 B" in vp.plan.message
    assert "3,255 B" in vp.plan.message
    assert vp.plan.solve_s < 0.5
    assert vp.reference.min_ram_bytes == 3256


def test_below_min_ram_with_params_in_the_budget_names_both_parts(linear, a72, no_solver) -> None:
    p = _problem(linear, a72, 100_000, 10.0, budget_includes_params=True)
    vp = plan_problem(p, OPTIONS)
    assert vp.plan.status is SolveStatus.INFEASIBLE
    params = p.costs.param_bytes
    assert params == 174_360
    for figure in ("177,616 B", "174,360 B", "3,256 B", "100,000 B"):
        assert figure in vp.plan.message, vp.plan.message


def test_a_runtime_factor_below_one_is_infeasible_with_a_reason(linear, a72, no_solver) -> None:
    vp = plan_problem(_problem(linear, a72, 10_000, 0.9), OPTIONS)
    assert vp.plan.status is SolveStatus.INFEASIBLE
    assert vp.plan.decisions is None
    assert "0.9x" in vp.plan.message and "1.0x" in vp.plan.message


def test_an_infeasible_milp_explains_itself(linear, a72) -> None:
    vp = plan_problem(_problem(linear, a72, 3300, 1.01, paging=False), OPTIONS)
    assert vp.plan.status is SolveStatus.INFEASIBLE and vp.sim is None
    msg = vp.plan.message
    assert "3,300 B" in msg and "1.01x" in msg and "3,256 B" in msg
    assert "allowing paging may help" in msg


@pytest.fixture(scope="module")
def solved(linear, a72):
    return plan_problem(_problem(linear, a72, 3400, 1.3), OPTIONS).plan


def test_verify_accepts_the_solver_plan(solved) -> None:
    sim = verify(solved)
    assert sim.energy_j == pytest.approx(solved.energy_j, rel=1e-9)


def test_verify_refuses_a_plan_missing_a_needed_resident_tensor(solved, linear) -> None:
    d = solved.decisions
    needed = [
        (t, i) for t in range(len(linear)) for i in linear.nodes[t].inputs if d.resident[t, i] and not d.compute[t, i]
    ]
    assert needed
    t, i = needed[0]
    resident = d.resident.copy()
    resident[t, i] = False
    tampered = replace(solved, decisions=Decisions.of(d.compute, resident, d.stored, d.page_in, d.page_out))
    with pytest.raises(ScheduleError, match=rf"stage {t}\).*{linear.nodes[i].name} is not in RAM"):
        verify(tampered)


def test_verify_refuses_a_plan_that_claims_another_energy(solved) -> None:
    with pytest.raises(ScheduleError, match="claims"):
        verify(replace(solved, energy_j=solved.energy_j * 1.001))


def test_verify_refuses_a_plan_without_schedule(solved) -> None:
    with pytest.raises(ScheduleError, match="no schedule"):
        verify(replace(solved, decisions=None, status=SolveStatus.TIME_LIMIT))


def test_verify_refuses_a_plan_over_its_budget(solved) -> None:
    peak = verify(solved).peak_ram_bytes
    tighter = replace(solved.problem, ram_budget_bytes=peak - 1)
    with pytest.raises(ScheduleError, match="exceeds the budget"):
        verify(replace(solved, problem=tighter))
    assert np.isfinite(peak)


def test_each_cheaper_heuristic_plan_is_shown_verified_before_the_solver_answers(linear, a72) -> None:
    """The fastest strategies' plans come first (a plan within milliseconds), the slower ones' after
    them while they are cheaper; the solver's answer is never dearer than the last of them."""
    p = _problem(linear, a72, 3400, 1.3)
    interims = []
    final = plan_problem(p, OPTIONS, on_interim=interims.append)
    assert interims and all(vp.is_verified for vp in interims)
    energies = [vp.plan.energy_j for vp in interims]
    assert energies == sorted(energies, reverse=True) and len(set(energies)) == len(energies)
    assert final.plan.energy_j <= energies[-1] * (1 + 1e-9)
