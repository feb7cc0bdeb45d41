"""The search over tensor groups: it never worsens or breaks a plan, and it improves a poor one on an
imported graph with fan-out."""

from __future__ import annotations

import threading
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
from poet_gui.core.solve.milp_window import satisfies

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


def test_a_group_is_graph_neighbours_and_frees_every_stage_it_decides_in(cnn_problem) -> None:
    model = build_model(cnn_problem)
    group = tensor_group(model, 5, 8, np.random.default_rng(0))
    graph = cnn_problem.graph
    assert group[0] == 5 and len(group) == len(set(group)) == 8
    for v in group[1:]:  # each member touches an earlier one by an edge
        assert any(v in graph.nodes[u].inputs or u in graph.nodes[v].inputs for u in group[: group.index(v)])
    free = group_mask(model, group)
    assert set(np.unique(model.col_node[free & model.is_integer])) <= set(group)
    decided = np.unique(model.col_stage[free & model.is_integer])
    continuous = ~model.is_integer & np.isin(model.col_stage, decided)
    assert np.all(free[continuous])


def test_search_improves_a_poor_start_on_an_imported_graph(cnn_problem) -> None:
    model, x0 = _poor_start(cnn_problem)
    assert satisfies(model, x0)
    result = search_groups(model, x0, _highs, time_limit_s=3.0)
    assert result.windows_improved >= 1
    assert float(model.cost @ result.x) < float(model.cost @ x0) * (1 - 1e-6)
    assert satisfies(model, result.x)


def test_search_never_returns_a_plan_worse_than_its_start(cnn_problem) -> None:
    model, x0 = _poor_start(cnn_problem)

    def wrong(sub, start, limit_s):  # "cheaper" by zeroing everything: breaks the model
        return np.zeros_like(start)

    def worse(sub, start, limit_s):  # feasible-looking but dearer: every 0/1 column set
        return np.where(sub.is_integer, 1.0, start)

    for solver in (wrong, worse, lambda *a: None):
        result = search_groups(model, x0, solver, time_limit_s=0.5)
        assert result.windows_solved > 0 and result.windows_improved == 0
        assert np.array_equal(result.x, x0)


def test_search_stops_when_cancelled(cnn_problem) -> None:
    model, x0 = _poor_start(cnn_problem)
    cancel = threading.Event()
    cancel.set()
    result = search_groups(model, x0, _highs, time_limit_s=5.0, cancel=cancel)
    assert result.cancelled and np.array_equal(result.x, x0)
