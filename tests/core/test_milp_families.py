"""Each constraint family of the MILP on its own, beside its FORMULATION §4 equation: the plain schedule
satisfies the family's rows, and a schedule that breaks exactly that equation breaks them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from poet_gui.core.device.profiles import DeviceProfile
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.schedule.plan import Decisions
from poet_gui.core.schedule.problem import Problem, make_problem
from poet_gui.core.schedule.reference_points import plain_decisions, reference_points
from poet_gui.core.solve.milp_model import MilpModel, families
from poet_gui.core.solve.milp_model.builder import Builder

Family = Callable[[Builder], None]


def _model_of(problem: Problem, family: Family) -> MilpModel:
    """The decision columns and one family's rows, nothing else."""
    b = Builder(problem)
    families.build_columns(b)
    family(b)
    return b.finish()


def _is_satisfied(model: MilpModel, d: Decisions) -> bool:
    x = model.start_vector(d)
    rows = model.row_activity(x)
    tol = 1e-6
    in_rows = bool(np.all(rows <= model.row_upper + tol) and np.all(rows >= model.row_lower - tol))
    in_cols = bool(np.all(x <= model.col_upper + tol) and np.all(x >= model.col_lower - tol))
    return in_rows and in_cols


def _problem(graph: TrainingGraph, profile: DeviceProfile, *, factor: float = 1.5, slack_bytes: float = 0.0) -> Problem:
    peak = reference_points(make_problem(graph, profile, ram_budget_bytes=1e12, runtime_factor=factor))
    return make_problem(graph, profile, ram_budget_bytes=peak.plain_peak_ram_bytes + slack_bytes, runtime_factor=factor)


def _altered(graph: TrainingGraph, **cells: list[tuple[int, int, bool]]) -> Decisions:
    """The plain schedule with some cells of some matrices set: ``resident=[(stage, node, value)]``."""
    d = plain_decisions(graph)
    mats = {name: np.array(getattr(d, name)) for name in ("compute", "resident", "stored", "page_in", "page_out")}
    for name, changes in cells.items():
        for t, i, value in changes:
            mats[name][t, i] = value
    return replace(d, **mats)


# The toy graph (tests/core/conftest.py): x(0) is read by a(1) and g2(4); a by loss(2), g1(3), g2.
CASES: list[tuple[str, Family, dict[str, list[tuple[int, int, bool]]]]] = [
    # §4.2 R[t,v] <= R[t,u] + SR[t,u]: g2 runs in stage 4 without x in RAM.
    ("inputs_present", families.inputs_present, {"resident": [(4, 0, False)]}),
    # §4.3 SR[t+1,i] <= SR[t,i] + R[t,i] + IN[t,i]: x is back in RAM at stage 3 from nowhere.
    ("persistence", families.persistence, {"resident": [(2, 0, False)]}),
    # §4.4 IN[t,i] <= SS[t,i]: x paged in at stage 3 though it was never stored.
    ("paging_sources", families.paging_sources, {"page_in": [(3, 0, True)]}),
    # §4.6 runtime: recomputing a (0.1 s) and g1 (0.2 s) exceeds the 0.2 s the 1.5x budget leaves.
    ("runtime", families.runtime, {"compute": [(4, 1, True), (4, 3, True)]}),
]


@pytest.mark.parametrize(("name", "family", "cells"), CASES, ids=[c[0] for c in CASES])
def test_a_family_holds_for_the_plain_schedule_and_catches_its_own_violation(
    toy_graph: TrainingGraph, toy: DeviceProfile, name: str, family: Family, cells: dict
) -> None:
    model = _model_of(_problem(toy_graph, toy), family)
    assert model.num_rows > 0, name
    assert _is_satisfied(model, plain_decisions(toy_graph))
    assert not _is_satisfied(model, _altered(toy_graph, **cells))


def test_memory_rows_hold_at_the_plain_peak_and_fail_one_byte_below(
    toy_graph: TrainingGraph, toy: DeviceProfile
) -> None:
    """§4.5: the plain schedule's RAM levels fit a budget of exactly its peak, and not one byte less."""
    plain = plain_decisions(toy_graph)
    assert _is_satisfied(_model_of(_problem(toy_graph, toy), families.memory), plain)
    assert not _is_satisfied(_model_of(_problem(toy_graph, toy, slack_bytes=-1.0), families.memory), plain)
