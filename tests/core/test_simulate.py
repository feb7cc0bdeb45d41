"""The simulator replays hand-built operation lists, measures them exactly and refuses every broken rule.

The toy graph and device (``conftest.py``) have round figures, so every expected number below is worked
out by hand: bytes x 16, a 8, loss 2, g1 4, g2 8; FLOP 0/100/40/200/60 at 1000 FLOP/s and 4000 FLOP/J;
page-in of x: 0.5 + 16/10 = 2.1 s = 4.2 J, page-out of x: 0.25 + 16/20 = 1.05 s = 2.1 J (2 W).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from poet_gui.core.errors import ScheduleError
from poet_gui.core.schedule.operations import Action, Operation, build_operations
from poet_gui.core.schedule.problem import Switches, make_problem
from poet_gui.core.schedule.reference_points import plain_decisions, reference_points
from poet_gui.core.schedule.simulate import simulate

X, A, LOSS, G1, G2 = range(5)
C, F, IN, OUT = Action.COMPUTE, Action.FREE, Action.PAGE_IN, Action.PAGE_OUT


def ops(*steps: tuple[int, Action, int]) -> list[Operation]:
    return [Operation(stage, action, node, is_recompute=False) for stage, action, node in steps]


# A valid schedule that pages x out and back in and recomputes a (RAM level after each step on the right).
PAGED = (
    (0, C, X),  # 16
    (1, C, A),  # 24
    (1, OUT, X),  # 24 (x now also in storage)
    (1, F, X),  # 8
    (2, C, LOSS),  # 10
    (3, C, G1),  # 14
    (3, F, LOSS),  # 12
    (3, F, A),  # 4
    (3, IN, X),  # 20
    (4, C, A),  # 28 (a recompute)
    (4, C, G2),  # 36
)
PAGED_RAM = [16, 24, 24, 8, 10, 14, 12, 4, 20, 28, 36]
PAGED_CLOCK = [0.0, 0.1, 1.15, 1.15, 1.19, 1.39, 1.39, 1.39, 3.49, 3.59, 3.65]


@pytest.fixture
def problem(toy_graph, toy):
    def make(budget: float = 36, factor: float = 1.5, **switches):
        return make_problem(
            toy_graph, toy, ram_budget_bytes=budget, runtime_factor=factor, switches=Switches(**switches)
        )

    return make


def test_toy_costs_are_the_hand_figures(problem) -> None:
    c = problem().costs
    np.testing.assert_array_equal(c.ram_bytes, [16, 8, 2, 4, 8])
    assert c.pagein_j[X] == pytest.approx(4.2, rel=1e-12)
    assert c.pageout_j[X] == pytest.approx(2.1, rel=1e-12)
    assert problem().plain_runtime_s == pytest.approx(0.4, rel=1e-12)


def test_a_valid_schedule_passes_and_is_measured_exactly(problem) -> None:
    sim = simulate(problem(), ops(*PAGED))
    np.testing.assert_array_equal(sim.ram_bytes, PAGED_RAM)
    np.testing.assert_allclose(sim.time_s, PAGED_CLOCK, rtol=1e-12)
    assert sim.peak_ram_bytes == 36 and sim.peak_index == len(PAGED) - 1
    assert sim.compute_j == pytest.approx(500 / 4000, rel=1e-12)  # 400 FLOP + a's recompute (100)
    assert sim.pagein_j == pytest.approx(4.2, rel=1e-12)
    assert sim.pageout_j == pytest.approx(2.1, rel=1e-12)
    assert sim.energy_j == pytest.approx(0.125 + 6.3, rel=1e-12)
    assert sim.compute_s == pytest.approx(0.5, rel=1e-12)
    assert sim.paging_s == pytest.approx(3.15, rel=1e-12)
    assert sim.runtime_s == pytest.approx(3.65, rel=1e-12)
    assert (sim.recomputes, sim.pageins, sim.pageouts) == (1, 1, 1)
    assert sim.budget_bytes == 36


def test_the_plain_schedule_of_the_toy_graph(problem) -> None:
    p = problem()
    sim = simulate(p, build_operations(p.graph, plain_decisions(p.graph)))
    # x, a, loss, g1 (then loss is dead: 28), g2 -> x + a + g1 + g2 = 36.
    assert sim.peak_ram_bytes == 36
    assert sim.energy_j == pytest.approx(0.1, rel=1e-12)
    assert sim.compute_s == pytest.approx(0.4, rel=1e-12)
    assert (sim.recomputes, sim.pageins, sim.pageouts) == (0, 0, 0)


def _fails(problem, steps, *patterns: str) -> None:
    with pytest.raises(ScheduleError) as err:
        simulate(problem, ops(*steps))
    for pattern in patterns:
        assert pattern in str(err.value), (pattern, str(err.value))


def test_missing_input_names_the_step_node_and_input(problem) -> None:
    _fails(problem(), [(0, C, X), (1, F, X), (1, C, A)], "step 2 (stage 1)", "compute a (Linear)", "input x")


def test_missing_input_lists_every_absent_input(problem) -> None:
    steps = [(0, C, X), (1, C, A), (2, C, LOSS), (3, C, G1), (3, F, X), (3, F, A), (4, C, G2)]
    _fails(problem(), steps, "step 6 (stage 4)", "compute g2", "x, a")


def test_free_of_a_tensor_not_in_ram(problem) -> None:
    _fails(problem(), [(0, C, X), (1, C, A), (1, F, LOSS)], "step 2 (stage 1)", "free loss", "not in RAM")


def test_free_twice(problem) -> None:
    _fails(problem(), [(0, C, X), (1, F, X), (1, F, X)], "step 2 (stage 1)", "free x", "not in RAM")


def test_page_in_of_a_tensor_never_written(problem) -> None:
    _fails(problem(), [(0, C, X), (1, C, A), (1, IN, LOSS)], "step 2 (stage 1)", "page in loss", "never written")


def test_page_out_of_a_tensor_not_in_ram(problem) -> None:
    _fails(problem(), [(0, C, X), (1, OUT, A)], "step 1 (stage 1)", "page out a", "not in RAM")


def test_over_the_ram_budget_names_the_first_step_over(problem) -> None:
    _fails(problem(budget=35), PAGED, "step 10 (stage 4)", "compute g2", "36 B", "35 B")
    _fails(problem(budget=27), PAGED, "step 9 (stage 4)", "compute a")


def test_a_budget_override_measures_without_judging(problem) -> None:
    sim = simulate(problem(budget=20), ops(*PAGED), budget_bytes=math.inf)
    assert sim.peak_ram_bytes == 36
    assert sim.budget_bytes == math.inf


def test_a_node_never_computed(problem) -> None:
    _fails(problem(), PAGED[:-1], "never computes g2")


def test_over_the_runtime_budget(problem) -> None:
    # 0.5 s of compute (a is computed twice) against 1.2 x 0.4 s = 0.48 s.
    _fails(problem(factor=1.2), PAGED, "runtime budget", "0.5 s", "0.48 s")
    assert simulate(problem(factor=1.25), ops(*PAGED)).compute_s == pytest.approx(0.5)


def test_paging_time_counts_only_when_switched_on(problem) -> None:
    # Compute 0.5 s + paging 3.15 s = 3.65 s; the budget of 9 plain passes is 3.6 s.
    assert simulate(problem(factor=9.0), ops(*PAGED)).runtime_s == pytest.approx(3.65)
    _fails(problem(factor=9.0, count_paging_time=True), PAGED, "3.65 s", "runtime budget")
    simulate(problem(factor=9.2, count_paging_time=True), ops(*PAGED))


def test_a_recompute_of_a_tensor_already_in_ram(problem) -> None:
    _fails(problem(), [(0, C, X), (1, C, A), (2, C, A)], "step 2 (stage 2)", "compute a", "already in RAM")


def test_a_page_in_of_a_tensor_already_in_ram(problem) -> None:
    steps = [(0, C, X), (1, C, A), (1, OUT, X), (1, IN, X)]
    _fails(problem(), steps, "step 3 (stage 1)", "page in x", "already in RAM")


def test_an_unknown_node(problem) -> None:
    _fails(problem(), [(0, C, 7)], "step 0 (stage 0)", "no such node")


def test_plain_peak_of_the_reference_linear_graph(reference_graph, a72) -> None:
    g = reference_graph("linear")
    p = make_problem(g, a72, ram_budget_bytes=1e9, runtime_factor=1.0)
    sim = simulate(p, build_operations(g, plain_decisions(g)))
    # Independently: right after computing v, RAM holds v and every earlier tensor still to be read at
    # or after v (inputs are freed only after the step that last reads them).
    m = np.asarray(p.costs.ram_bytes)
    by_hand = max(m[v] + sum(m[u] for u in range(v) if g.last_use[u] >= v) for v in range(len(g)))
    assert sim.peak_ram_bytes == by_hand == 7416
    assert reference_points(p).plain_peak_ram_bytes == 7416
    assert sim.energy_j == pytest.approx(p.plain_energy_j, rel=1e-12)
    assert (sim.recomputes, sim.pageins, sim.pageouts) == (0, 0, 0)
