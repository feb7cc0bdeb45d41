"""Test-wide setup: Qt runs offscreen, so the suite needs no display; fixtures both the engine and the
app tests use."""

import os
from pathlib import Path

import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.graph import Node, TrainingGraph, build_graph
from poet_gui.core.model.graph_io import save_graph_file
from poet_gui.core.schedule.problem import Problem, Switches, make_problem

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_bound_gap_graph() -> TrainingGraph:
    """Seed 20 of the random MILP test, written out: at 58 B on m4, runtime factor 1.01 with paging time
    charged, its optimum (0.90141 mJ) lies 0.34 % above the eviction bound, so only branch and bound can
    prove it, and its best heuristic plan (0.97282 mJ) leaves the MILP and the windows work to do."""
    f, b = {"is_backward": False, "param_count": 0.0}, {"is_backward": True, "param_count": 0.0}
    nodes = [
        Node("x", "Input", **f, flop=0.0, out_shape=(3,), inputs=()),
        Node("f1", "Linear", **f, flop=1111.0, out_shape=(4,), inputs=(0,)),
        Node("f2", "Linear", **f, flop=1752.0, out_shape=(5,), inputs=(1,)),
        Node("f3", "Add", **f, flop=0.0, out_shape=(2,), inputs=(1, 2)),
        Node("loss", "Loss", **f, flop=108987.0, out_shape=(1,), inputs=(3,)),
        Node("g0", "Gradient", **b, flop=0.0, out_shape=(5,), inputs=(4, 2, 0)),
        Node("g1", "Gradient", **b, flop=5692.0, out_shape=(3,), inputs=(5, 0)),
        Node("g2", "Gradient", **b, flop=11610.0, out_shape=(2,), inputs=(6, 3)),
        Node("g3", "Gradient", **b, flop=390813.0, out_shape=(4,), inputs=(7, 1)),
    ]
    return build_graph("bound-gap", nodes)


@pytest.fixture
def bound_gap() -> Problem:
    """The problem of :func:`make_bound_gap_graph`: the eviction bound is below its optimum."""
    return make_problem(make_bound_gap_graph(), load_profile("m4"), ram_budget_bytes=58, runtime_factor=1.01,
                        switches=Switches(count_paging_time=True))  # fmt: skip


@pytest.fixture
def bound_gap_graph_file(tmp_path) -> Path:
    """:func:`make_bound_gap_graph` saved as a graph file, for the command line and the app."""
    path = tmp_path / "bound-gap.json"
    save_graph_file(make_bound_gap_graph(), path)
    return path
