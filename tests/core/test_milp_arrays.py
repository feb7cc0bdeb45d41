"""The array helpers the MILP is built with, and the MIP start it derives from a schedule."""

from __future__ import annotations

import numpy as np
import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.zoo import build_model as zoo_model
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.schedule.reference_points import plain_decisions, reference_points
from poet_gui.core.solve.milp_model import build_model
from poet_gui.core.solve.milp_model.arrays import ranges, readers_of


def test_ranges_expands_each_interval_in_order_and_skips_empty_ones() -> None:
    owner, value = ranges(np.array([2, 5, 0, 7]), np.array([4, 5, 1, 6]))
    assert owner.tolist() == [0, 0, 2]
    assert value.tolist() == [2, 3, 0]
    owner, value = ranges(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    assert len(owner) == len(value) == 0


def test_readers_of_lists_each_tensors_consumers_ascending(toy_graph: TrainingGraph) -> None:
    graph = toy_graph
    tensors = np.array([1, 0, 4, 1])
    owner, reader = readers_of(graph, tensors)
    got = [[int(r) for o, r in zip(owner, reader, strict=True) if o == k] for k in range(len(tensors))]
    assert got == [list(graph.successors[int(i)]) for i in tensors]


@pytest.mark.parametrize("model", ["linear", "transformer", "resnet18_cifar"])
def test_the_start_of_a_schedule_satisfies_every_row_and_column_bound(model: str) -> None:
    """The plain schedule's MIP start (every FREE by its rule, every RAM level by its equality, stage by
    stage) meets the whole model at a budget the plain pass fits, and its RAM levels are that pass's."""
    graph, profile = zoo_model(model), load_profile("m4")
    ref = reference_points(make_problem(graph, profile, ram_budget_bytes=1.0, runtime_factor=1.0))
    problem = make_problem(graph, profile, ram_budget_bytes=ref.plain_peak_ram_bytes, runtime_factor=1.5)
    milp = build_model(problem)
    x = milp.start_vector(plain_decisions(graph))
    activity = milp.row_activity(x)
    assert np.all(activity <= milp.row_upper + 1e-6) and np.all(activity >= milp.row_lower - 1e-6)
    assert np.all(x <= milp.col_upper + 1e-6) and np.all(x >= milp.col_lower - 1e-6)
    levels = x[milp.level_rows[:, 0]]
    assert levels.max() == pytest.approx(ref.plain_peak_ram_bytes)
