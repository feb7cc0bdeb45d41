"""The eviction bound stays a lower bound on graphs with fan-out: random autodiff-like DAGs.

The bound's argument has three parts that the zoo's chains never exercise together (the module
docstring of :mod:`eviction_bound`): a return per moment a tensor is out, recomputations that need
inputs already dead (kept in RAM through the moments over budget, or brought back themselves), and
inputs out of RAM in the same window. Residual adds and attention create all three. Here each graph
has forward nodes that read one or two earlier tensors (skips and joins), a loss, and a backward pass
in which the gradient of node ``k`` reads what ``k`` read (and the gradient that follows it), as an
autodiff backward does; budgets sit near the least RAM, where the bound works hardest. The literal
FORMULATION §4 model proves each optimum; the bound must never exceed it.
"""

from __future__ import annotations

import numpy as np
import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.graph import Node, TrainingGraph, build_graph
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.schedule.problem import Problem, Switches, make_problem
from poet_gui.core.schedule.reference_points import reference_points_of
from poet_gui.core.solve.eviction_bound import eviction_bound
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.milp_plain import solve_plain

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulp")

SEEDS = range(40)
LITERAL = SolverOptions(time_limit_s=120.0, rel_gap=1e-9)


def fanout_graph(rng: np.random.Generator, name: str) -> TrainingGraph:
    """4..7 forward nodes with skips and joins, a loss over the last, and one gradient per forward
    node that reads the previous gradient and the forward node's own inputs."""
    n_forward = int(rng.integers(4, 7, endpoint=True))
    nodes = [Node("x", "Input", False, 0.0, (int(rng.integers(4, 16)),), 0.0, ())]
    for i in range(1, n_forward):
        inputs = {i - 1}
        if rng.random() < 0.5:
            inputs.add(int(rng.integers(0, i)))
        flop = 0.0 if rng.random() < 0.15 else float(round(10 ** rng.uniform(2.0, 6.0)))
        shape = (int(rng.integers(4, 16)),)
        nodes.append(Node(f"f{i}", "Op", False, flop, shape, 0.0, tuple(sorted(inputs))))
    nodes.append(Node("loss", "Loss", False, float(round(10 ** rng.uniform(2.0, 4.0))), (1,), 0.0, (n_forward - 1,)))
    previous = n_forward
    for k in range(n_forward - 1, 0, -1):  # the gradient of f_k reads what f_k read
        reads = tuple(sorted({previous, *nodes[k].inputs}))
        flop = float(round(10 ** rng.uniform(2.0, 6.0)))
        nodes.append(Node(f"g{k}", "Gradient", True, flop, nodes[k].out_shape, 0.0, reads))
        previous = len(nodes) - 1
    return build_graph(name, nodes)


def fanout_case(seed: int) -> Problem:
    rng = np.random.default_rng(1000 + seed)
    graph = fanout_graph(rng, f"fanout{seed}")
    profile = load_profile(str(rng.choice(("m4", "m0", "a72"))))
    switches = Switches(paging=bool(rng.random() < 0.8), remat=True, count_paging_time=bool(rng.random() < 0.3))
    ref = reference_points_of(graph, profile, switches)
    budget = float(round(ref.min_ram_bytes + (ref.plain_peak_ram_bytes - ref.min_ram_bytes) * rng.uniform(0.0, 0.4)))
    factor = float(rng.choice((1.1, 1.5, 3.0)))
    return make_problem(graph, profile, ram_budget_bytes=budget, runtime_factor=factor, switches=switches)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda seed: f"seed{seed}")
def test_the_bound_is_at_or_below_the_literal_optimum(seed: int) -> None:
    problem = fanout_case(seed)
    literal, _ = solve_plain(problem, LITERAL)
    bound = eviction_bound(problem, time_limit_s=10.0, threads=1)
    assert literal.status in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE), seed
    if literal.status is SolveStatus.OPTIMAL and bound is not None:
        assert bound.energy_j <= literal.energy_j * (1 + 1e-9), (seed, bound.energy_j, literal.energy_j)


def test_the_generated_cases_make_the_bound_work() -> None:
    """The cases are not vacuous: most of them are over budget somewhere and priced above the plain pass."""
    raised = 0
    for seed in SEEDS:
        problem = fanout_case(seed)
        bound = eviction_bound(problem, time_limit_s=10.0, threads=1)
        raised += bound is not None and bound.energy_j > problem.plain_energy_j * (1 + 1e-6)
    assert raised >= len(SEEDS) // 2
