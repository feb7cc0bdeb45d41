"""The search over tensor groups: it never worsens or breaks a plan, and it improves a poor one on an
imported graph with fan-out."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.onnx_import import load_onnx_graph
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.solve.heuristics import page_after_use
from poet_gui.core.solve.highs_backend import configured_highs, has_solution
from poet_gui.core.solve.milp_lns import group_mask, search_groups, tensor_group
from poet_gui.core.solve.milp_model import build_model
from poet_gui.core.solve.milp_window import restrict, satisfies

SMALL_CNN = Path(__file__).resolve().parents[2] / "poet_gui" / "samples" / "small_cnn.onnx"


@pytest.fixture(scope="module")
def cnn_problem():
    """small_cnn.onnx (34 nodes, imported autodiff backward) on m4 at 40,000 B, 1.2x: paging every
    tensor that breaks the budget (page_after_use) is far from the best plan."""
    graph = load_onnx_graph(SMALL_CNN).graph
    return make_problem(graph, load_profile("m4"), ram_budget_bytes=40_000, runtime_factor=1.2)


def _highs(sub, start, limit_s):
    h = configured_highs(sub, time_limit_s=limit_s, rel_gap=1e-6, threads=1, start=start)
    h.run()
    return np.asarray(h.getSolution().col_value) if has_solution(h) else None


def _poor_start(problem):
    model = build_model(problem)
    plan = page_after_use.solve(problem)
    assert plan.decisions is not None
    return model, model.start_vector(plan.decisions)


def test_a_group_is_graph_neighbours_and_frees_what_its_decisions_move(cnn_problem) -> None:
    model = build_model(cnn_problem)
    group = tensor_group(model, 5, 8, np.random.default_rng(0))
    graph = cnn_problem.graph
    assert group[0] == 5 and len(group) == len(set(group)) == 8
    for v in group[1:]:  # each member touches an earlier one by an edge
        assert any(v in graph.nodes[u].inputs or u in graph.nodes[v].inputs for u in group[: group.index(v)])
    free = group_mask(model, group)
    assert set(np.unique(model.col_node[free & model.is_integer])) <= set(group)
    decided = np.isin(model.col_stage, np.unique(model.col_stage[free & model.is_integer]))
    levels = ~model.is_integer & (model.col_node < 0)
    assert np.all(free[levels & decided]) and not np.any(free[levels & ~decided])
    near = set(group) | {int(u) for v in group for u in graph.nodes[v].inputs}
    frees = ~model.is_integer & (model.col_node >= 0)
    assert np.all(free[frees & decided & np.isin(model.col_node, list(near))])
    assert not np.any(free[frees & ~np.isin(model.col_node, list(near))])  # fixed with the decisions they follow


def test_a_group_loses_nothing_by_fixing_the_frees_it_cannot_move(cnn_problem) -> None:
    """The neighbourhood's best plan is the same whether or not the frees of tensors outside the group
    (and outside its inputs) are free too: they follow decisions the group does not change."""
    model, x0 = _poor_start(cnn_problem)
    rng = np.random.default_rng(3)
    for seed in (2, 9, 17, 26):
        free = group_mask(model, tensor_group(model, seed, 8, rng))
        wide = free | (~model.is_integer & np.isin(model.col_stage, np.unique(model.col_stage[free])))
        assert np.any(wide & ~free)
        best = [float(restrict(model, m, x0).cost @ _highs(restrict(model, m, x0), x0[m], 20.0)) for m in (free, wide)]
        assert best[0] == pytest.approx(best[1], rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("workers", [1, 2])
def test_search_improves_a_poor_start_on_an_imported_graph(cnn_problem, workers: int) -> None:
    model, x0 = _poor_start(cnn_problem)
    assert satisfies(model, x0)
    result = search_groups(model, x0, _highs, time_limit_s=3.0, workers=workers)
    assert result.windows_improved >= 1
    assert float(model.cost @ result.x) < float(model.cost @ x0) * (1 - 1e-6)
    assert satisfies(model, result.x)


@pytest.mark.parametrize("workers", [1, 2])
def test_search_never_returns_a_plan_worse_than_its_start(cnn_problem, workers: int) -> None:
    model, x0 = _poor_start(cnn_problem)

    def wrong(sub, start, limit_s):  # "cheaper" by zeroing everything: breaks the model
        return np.zeros_like(start)

    def worse(sub, start, limit_s):  # feasible-looking but dearer: every 0/1 column set
        return np.where(sub.is_integer, 1.0, start)

    for solver in (wrong, worse, lambda *a: None):
        result = search_groups(model, x0, solver, time_limit_s=0.5, workers=workers)
        assert result.windows_solved > 0 and result.windows_improved == 0
        assert np.array_equal(result.x, x0)


def test_groups_solved_at_once_run_in_parallel_and_all_count(cnn_problem) -> None:
    """Two workers: two groups are in flight together, and every result is checked against the plan
    as it is when it lands (a result overtaken by another group's is never accepted unchecked)."""
    model, x0 = _poor_start(cnn_problem)
    lock, in_flight, most = threading.Lock(), [0], [0]
    landed: list[np.ndarray] = []

    def solver(sub, start, limit_s):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            values = _highs(sub, start, limit_s)
            landed.append(values)
            return values
        finally:
            with lock:
                in_flight[0] -= 1

    result = search_groups(model, x0, solver, time_limit_s=3.0, workers=2)
    assert most[0] == 2
    assert result.windows_solved == len(landed) and result.windows_improved >= 1
    assert satisfies(model, result.x) and float(model.cost @ result.x) < float(model.cost @ x0)


def test_a_plan_good_enough_halts_the_groups_still_running(cnn_problem) -> None:
    model, x0 = _poor_start(cnn_problem)
    halt, lock = threading.Event(), threading.Lock()
    calls = [0]

    def solver(sub, start, limit_s):
        with lock:
            calls[0] += 1
            mine = calls[0]
        if mine == 2:  # the group beside the first: runs until halted
            halt.wait(timeout=30.0)
            return None
        return _highs(sub, start, limit_s)

    started = time.perf_counter()
    result = search_groups(model, x0, solver, time_limit_s=60.0, workers=2, good_enough=lambda x: True, halt=halt)
    assert halt.is_set() and result.windows_improved >= 1
    assert time.perf_counter() - started < 20.0


def test_search_stops_when_cancelled(cnn_problem) -> None:
    model, x0 = _poor_start(cnn_problem)
    cancel = threading.Event()
    cancel.set()
    result = search_groups(model, x0, _highs, time_limit_s=5.0, cancel=cancel)
    assert result.cancelled and np.array_equal(result.x, x0)


def _better_plan(cnn_problem, model):
    """A valid whole plan cheaper than the poor start: the greedy heuristic's."""
    from poet_gui.core.solve.heuristics import greedy

    plan = greedy.solve(cnn_problem)
    assert plan.decisions is not None
    return model.start_vector(plan.decisions)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_companion_search_runs_beside_the_groups_and_its_plan_is_kept(cnn_problem, workers: int) -> None:
    """The companion takes one worker's slot from the start (with two workers the groups run beside
    it, with one they wait for it); its whole plan is accepted by the same check as a group's."""
    model, x0 = _poor_start(cnn_problem)
    better = _better_plan(cnn_problem, model)
    assert float(model.cost @ better) < float(model.cost @ x0)
    groups_during: list[int] = []
    companion_running = threading.Event()
    groups = [0]

    def companion():
        companion_running.set()
        time.sleep(0.5)
        groups_during.append(groups[0])
        companion_running.clear()
        return better

    def solver(sub, start, limit_s):
        if companion_running.is_set():
            groups[0] += 1
        return None  # no group improves: only the companion can

    result = search_groups(model, x0, solver, time_limit_s=1.5, workers=workers, companion=companion)
    assert np.array_equal(result.x, better) and result.windows_improved == 0
    assert (groups_during[0] > 0) == (workers == 2)


def test_a_companion_plan_that_is_dearer_or_broken_is_refused(cnn_problem) -> None:
    model, x0 = _poor_start(cnn_problem)
    for plan in (np.zeros_like(x0), np.where(model.is_integer, 1.0, x0), None):
        result = search_groups(model, x0, lambda *a: None, time_limit_s=0.3, workers=2, companion=lambda p=plan: p)
        assert np.array_equal(result.x, x0)


@pytest.mark.parametrize(("gap", "hands_over"), [(1e-3, True), (1e-9, False)])
def test_the_exact_solve_hands_over_to_branch_and_bound_once_a_plan_is_close_to_the_floor(
    cnn_problem, gap: float, hands_over: bool
) -> None:
    """A plan within ``hand_over_gap`` of the floor (here the companion's, 0.05 % above it) ends the
    group search at once: branch and bound closes such a gap faster than more groups do."""
    from poet_gui.core.solve import milp as milp_module
    from poet_gui.core.solve.milp import SolverOptions

    model, x0 = _poor_start(cnn_problem)
    better = _better_plan(cnn_problem, model)
    floor = milp_module._objective(model, better) / (1 + 5e-4)
    result = milp_module._search_groups(
        model, SolverOptions(threads=1), None, None, time.perf_counter(), x0, floor, 5.0,
        lambda threads, halt: better, hand_over_gap=gap,
    )  # fmt: skip
    assert np.array_equal(result.x, better) or float(model.cost @ result.x) < float(model.cost @ better)
    assert (result.windows_solved == 0) == hands_over
