"""Every optimum of ``shared/reference/results.json`` is reproduced by our MILP with HiGHS.

Each case is solved on the reference graph file (node order as the file, FORMULATION §5) with the
file's budgets and switches; status and energy (with its compute and paging parts) must match to
1e-6 relative. The solver's own objective must agree with the simulator's replay of the plan, and
every plan must pass the simulator within its budgets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.schedule.plan import SolveStatus, decisions_energy_j
from poet_gui.core.schedule.problem import Switches, make_problem
from poet_gui.core.solve.milp import Solver, SolverOptions, solve_milp
from poet_gui.core.solve.planner import verify

RESULTS = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "results.json"
RTOL = 1e-6
OPTIONS = SolverOptions(solver=Solver.HIGHS, time_limit_s=60.0, rel_gap=1e-8)


def _cases(*, solved_only: bool = False) -> list:
    """The cases as test parameters (only those the reference solved, if ``solved_only``)."""
    if not RESULTS.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{RESULTS} is absent"))]
    cases = json.loads(RESULTS.read_text(encoding="utf-8"))["cases"]
    if solved_only:
        cases = [c for c in cases if c["status"] in (SolveStatus.OPTIMAL.value, SolveStatus.FEASIBLE.value)]
    return [
        pytest.param(
            c,
            id=f"{c['model']}-{c['profile']}-{c['ram_budget_bytes']}B-x{c['runtime_factor']}"
            f"{'' if c['paging'] else '-nopaging'}{'' if c['remat'] else '-noremat'}",
        )
        for c in cases
    ]


@pytest.fixture(scope="module")
def solved(reference_graph):
    """Solve each case once per module; the tests below look at the same plans from different sides."""
    cache: dict[str, tuple] = {}

    def solve(case: dict):
        key = json.dumps(case, sort_keys=True)
        if key not in cache:
            problem = make_problem(
                reference_graph(case["model"]),
                load_profile(case["profile"]),
                ram_budget_bytes=case["ram_budget_bytes"],
                runtime_factor=case["runtime_factor"],
                switches=Switches(paging=case["paging"], remat=case["remat"]),
            )
            cache[key] = (problem, solve_milp(problem, OPTIONS))
        return cache[key]

    return solve


@pytest.mark.parametrize("case", _cases())
def test_the_graph_keeps_the_file_node_order(case, reference_graph) -> None:
    """The optima refer to the file's stage order (FORMULATION §5), so the loader must keep it."""
    graph = reference_graph(case["model"])  # skips if the file is absent
    path = RESULTS.parent / "graphs" / f"{case['model']}.json"
    in_file = [n["name"] for n in json.loads(path.read_text(encoding="utf-8"))["nodes"]]
    assert [n.name for n in graph.nodes] == in_file


@pytest.mark.parametrize("case", _cases())
def test_status_and_energy_match_the_reference(case, solved) -> None:
    problem, plan = solved(case)
    assert plan.status.value == case["status"], plan.message
    if case["status"] != SolveStatus.OPTIMAL.value:
        assert plan.decisions is None and plan.energy_j is None
        return
    compute_j, pagein_j, pageout_j = decisions_energy_j(problem, plan.decisions)
    assert plan.energy_j == pytest.approx(case["energy_j"], rel=RTOL)
    assert compute_j == pytest.approx(case["compute_j"], rel=RTOL)
    assert pagein_j + pageout_j == pytest.approx(case["page_j"], rel=RTOL, abs=1e-12 * case["energy_j"])
    assert plan.gap is not None and plan.gap <= 1e-6
    assert plan.bound_j is not None and plan.bound_j <= plan.energy_j * (1 + 1e-12)


@pytest.mark.parametrize("case", _cases(solved_only=True))
def test_solver_energy_equals_the_simulated_energy(case, solved) -> None:
    _, plan = solved(case)
    assert plan.decisions is not None, plan.status
    sim = verify(plan)
    assert plan.solver_energy_j == pytest.approx(sim.energy_j, rel=RTOL)
    assert plan.energy_j == pytest.approx(sim.energy_j, rel=1e-9)


@pytest.mark.parametrize("case", _cases(solved_only=True))
def test_every_plan_passes_the_simulator_within_budget(case, solved) -> None:
    problem, plan = solved(case)
    assert plan.decisions is not None, plan.status
    sim = verify(plan)
    assert sim.peak_ram_bytes <= problem.activation_budget_bytes
    assert sim.compute_s <= problem.runtime_budget_s * (1 + 1e-9)
    d = plan.decisions
    if not case["paging"]:
        assert not d.page_in.any() and not d.page_out.any() and not d.stored.any()
    if not case["remat"]:
        np.testing.assert_array_equal(d.compute, np.eye(len(problem.graph), dtype=bool))
