"""Reference points that frame every plan: the plain schedule and the least RAM any schedule needs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from poet_gui.core.device.profiles import DeviceProfile
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.schedule.operations import Action, Operation
from poet_gui.core.schedule.plan import Decisions
from poet_gui.core.schedule.problem import Problem, Switches, make_problem
from poet_gui.core.schedule.simulate import simulate


@dataclass(frozen=True, slots=True)
class ReferencePoints:
    """Figures of a problem that do not depend on the budgets.

    ``plain_*``: each node computed once, every tensor kept until its last use — the no-overhead
    lower bound on energy and runtime. ``min_ram_bytes``: no schedule fits a smaller activation budget.
    """

    plain_energy_j: float
    plain_runtime_s: float
    plain_peak_ram_bytes: float
    min_ram_bytes: float
    param_bytes: float


def plain_decisions(graph: TrainingGraph) -> Decisions:
    """Compute each node once in its own stage and keep its output until its last consumer runs."""
    n = len(graph)
    t, i = np.indices((n, n))
    resident = (i < t) & (t <= np.asarray(graph.last_use)[i])
    none = np.zeros((n, n), dtype=bool)
    return Decisions.of(np.eye(n, dtype=bool), resident, none, none, none)


def plain_operations(graph: TrainingGraph) -> tuple[Operation, ...]:
    """The operation list of :func:`plain_decisions`, built in O(nodes + edges) time and memory.

    The reference points need only this list, and the dense ``(T, T)`` matrices would cost T**2
    bytes each (6 GiB for a 20,000-node chain) before :func:`~poet_gui.core.schedule.problem.make_problem`
    could refuse a graph that large. Equal to ``build_operations(graph, plain_decisions(graph))``
    (a test checks it on every zoo model): stage ``t`` computes node ``t``, frees each input whose
    last consumer is ``t`` in input order, and at the stage end frees ``t`` itself if nothing reads it.
    """
    last_use = graph.last_use
    n = len(graph)
    ops: list[Operation] = []
    for t, node in enumerate(graph.nodes):
        ops.append(Operation(t, Action.COMPUTE, t))
        ops.extend(Operation(t, Action.FREE, i) for i in node.inputs if last_use[i] == t)
        if last_use[t] == t and t + 1 < n:
            ops.append(Operation(t, Action.FREE, t))
    return tuple(ops)


def min_ram_bytes(problem: Problem) -> float:
    """The largest single step's working set: a node's output plus all its inputs.

    Every schedule computes every node at least once, and while it does so the node's inputs and its
    output are all in RAM (FORMULATION §4.5 frees inputs only after the compute), so no activation
    budget below this can be met. With paging and recomputation allowed it is also enough
    (the tests check that on several models).
    """
    m = np.asarray(problem.costs.ram_bytes, dtype=float)
    return float(max(m[v] + sum(m[u] for u in node.inputs) for v, node in enumerate(problem.graph.nodes)))


def reference_points_of(
    graph: TrainingGraph, profile: DeviceProfile, switches: Switches = Switches()
) -> ReferencePoints:
    """The reference points of ``graph`` on ``profile``: they do not depend on the budgets, so the
    problem they are measured on carries placeholder ones."""
    return reference_points(make_problem(graph, profile, ram_budget_bytes=1, runtime_factor=1.0, switches=switches))


def reference_points(problem: Problem) -> ReferencePoints:
    """Measure the plain schedule with the simulator and derive the minimum RAM."""
    sim = simulate(problem, plain_operations(problem.graph), budget_bytes=math.inf)
    return ReferencePoints(
        plain_energy_j=sim.energy_j,
        plain_runtime_s=sim.compute_s,
        plain_peak_ram_bytes=sim.peak_ram_bytes,
        min_ram_bytes=min_ram_bytes(problem),
        param_bytes=problem.costs.param_bytes,
    )
