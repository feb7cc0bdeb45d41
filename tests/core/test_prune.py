"""Pruning a schedule of what changes nothing: the waste a time-limited incumbent can hold is removed,
and what is left still replays in the simulator and is still a solution of the MILP."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.schedule.operations import build_operations, prune_redundant
from poet_gui.core.schedule.plan import Decisions, decisions_energy_j
from poet_gui.core.schedule.problem import Problem, Switches, make_problem
from poet_gui.core.schedule.reference_points import plain_decisions, reference_points_of
from poet_gui.core.schedule.simulate import simulate
from poet_gui.core.solve.milp_model import build_model

X, A, LOSS, G1, G2 = range(5)  # the toy graph (conftest.py): x -> a -> loss; g1 reads a, loss; g2 reads x, a, g1


def _roomy(graph: TrainingGraph, profile_key: str = "m4") -> Problem:
    """A problem whose budgets every schedule here fits: what is measured is the pruning alone."""
    profile = load_profile(profile_key)
    peak = reference_points_of(graph, profile).plain_peak_ram_bytes
    return make_problem(graph, profile, ram_budget_bytes=10 * peak, runtime_factor=10.0, switches=Switches())


def _with(d: Decisions, **cells: list[tuple[int, int]]) -> Decisions:
    mats = {name: np.array(getattr(d, name)) for name in ("compute", "resident", "stored", "page_in", "page_out")}
    for name, where in cells.items():
        for t, i in where:
            mats[name][t, i] = True
    return replace(d, **mats)


def _energy(problem: Problem, d: Decisions) -> float:
    return sum(decisions_energy_j(problem, d))


def _is_milp_solution(problem: Problem, d: Decisions) -> bool:
    model = build_model(problem)
    x = model.start_vector(d)
    rows = model.row_activity(x)
    return bool(np.all(rows <= model.row_upper + 1e-6) and np.all(rows >= model.row_lower - 1e-6))


def test_the_plain_schedule_is_left_as_it_is(toy_graph: TrainingGraph) -> None:
    d = plain_decisions(toy_graph)
    pruned = prune_redundant(toy_graph, d)
    for name in ("compute", "resident", "stored", "page_in", "page_out"):
        assert np.array_equal(getattr(pruned, name), getattr(d, name)), name


@pytest.mark.parametrize(
    ("waste", "cells"),
    [
        # x written to storage in stage 1 and never read back: the page-out and its storage go
        ("a page-out never paged in", {"page_out": [(1, X)], "stored": [(2, X), (3, X)]}),
        # loss recomputed in the last stage, where nothing reads it and no stage follows
        ("a recompute nothing reads", {"compute": [(4, LOSS)]}),
        # loss kept into stage 4, which does not read it
        ("a residency nothing uses", {"resident": [(4, LOSS)]}),
    ],
)
def test_waste_is_removed_and_the_rest_still_replays(toy_graph: TrainingGraph, waste: str, cells: dict) -> None:
    problem = _roomy(toy_graph)
    wasteful = _with(plain_decisions(toy_graph), **cells)
    simulate(problem, build_operations(toy_graph, wasteful))  # the waste itself is a valid schedule
    pruned = prune_redundant(toy_graph, wasteful)
    plain = plain_decisions(toy_graph)
    for name in ("compute", "resident", "stored", "page_in", "page_out"):
        assert np.array_equal(getattr(pruned, name), getattr(plain, name)), f"{waste}: {name}"
    assert _energy(problem, pruned) <= _energy(problem, wasteful)


@pytest.mark.parametrize("seed", range(12))
def test_random_waste_on_random_graphs_is_removed_and_the_schedule_stays_valid(seed: int) -> None:
    """Page-outs of tensors in RAM, never read back, and recomputes in the last stage of tensors whose
    inputs are in RAM there, added to the plain schedule of a random graph with fan-out: pruning
    removes every one, never raises the simulator's peak, and leaves a solution of the MILP."""
    from test_milp_random import random_graph

    rng = np.random.default_rng(seed)
    graph = random_graph(rng, f"random{seed}")
    problem = _roomy(graph, str(rng.choice(["m0", "m4", "a72"])))
    plain = plain_decisions(graph)
    n = len(graph)
    outs = [(t, i) for t, i in zip(*np.nonzero(plain.resident), strict=True) if t + 1 < n]
    picked = [outs[k] for k in rng.choice(len(outs), size=min(2, len(outs)), replace=False)] if outs else []
    stored = [(s, i) for t, i in picked for s in range(t + 1, n)]
    last = n - 1
    ready = [k for k in range(last) if all(plain.resident[last, u] for u in graph.nodes[k].inputs)]
    recomputes = [(last, k) for k in ready if k not in graph.nodes[last].inputs]
    assert picked or recomputes, "nothing to prune: the test would prove nothing"
    wasteful = _with(plain, page_out=picked, stored=stored, compute=recomputes)
    before = simulate(problem, build_operations(graph, wasteful))
    pruned = prune_redundant(graph, wasteful)
    after = simulate(problem, build_operations(graph, pruned))
    assert after.peak_ram_bytes <= before.peak_ram_bytes
    assert _energy(problem, pruned) <= _energy(problem, plain) * (1 + 1e-12)
    assert not pruned.page_out.any() and not pruned.stored.any()
    assert np.array_equal(pruned.compute, plain.compute)
    assert _is_milp_solution(problem, pruned)
    again = prune_redundant(graph, pruned)
    assert all(np.array_equal(getattr(again, f), getattr(pruned, f)) for f in ("compute", "resident", "page_out"))
