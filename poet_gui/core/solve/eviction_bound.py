"""A lower bound on every plan's energy from the tensors the RAM budget forces out of RAM.

Why: the MILP's LP relaxation is weak on this problem. A RAM row is a knapsack over "keep tensor
``i`` in RAM" binaries, and the LP keeps a fraction of a tensor to fit the budget by a few bytes; on
linear / m4 at 50 % of the plain peak the root LP captures 8 % of the optimum's extra energy, and
HiGHS spends seconds in cut rounds and branching closing the rest. The bound below captures the
knapsack's integrality directly, on a problem small enough to solve exactly in milliseconds.

The argument (FORMULATION §4). While node ``t`` is computed in its own stage, RAM holds ``t``'s
output and all its inputs (§4.5 frees an input only after the next compute) and every other tensor
that is in RAM then. Call a tensor ``i`` *crossing* stage ``t`` if it was produced before ``t``, is
not an input of ``t`` and is read by a node after ``t``. A crossing tensor that is not in RAM at
that moment must come back before its reader runs: recomputed (at least its compute energy and
time) or paged in after having been paged out (its page-out and page-in energies, and their times
if paging time is charged). So in every plan the set of tensors that are ever out of RAM while
crossing covers, at every stage ``t``, the stage's excess ``m_t + sum(inputs) + sum(crossing) -
budget`` in bytes, and each of those tensors comes back at least once by one of its ways, whose
times together fit in the runtime budget's slack over the plain pass. The cheapest such choice (a
small 0/1 program: a column per tensor and way back, a covering row per stage over budget, one way
per tensor, one runtime row) plus the plain pass's energy is therefore a lower bound on every plan.
HiGHS's dual bound is used, so a search stopped by its time limit still gives a valid bound.

Measured (benchmarks/RESULTS.md): on every linear and transformer case of the benchmark it equals
the proven optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.highs_backend import configured_highs, has_solution
from poet_gui.core.solve.milp_model import Family, MilpModel, SparseMilp

#: The cover is solved to this relative gap; its dual bound is what is used either way.
_COVER_GAP = 1e-9


@dataclass(frozen=True, slots=True)
class EvictionBound:
    """``energy_j`` bounds the energy of every plan of the problem from below. ``evicted``: the
    tensors of the cheapest cover found (the ones a plan attaining the bound would drop and bring
    back once each); ``free_return``: tensors that come back at no cost (0-FLOP nodes such as
    inputs, recomputed), which any plan may drop without paying for it."""

    energy_j: float
    evicted: tuple[int, ...]
    free_return: tuple[int, ...]


def eviction_bound(problem: Problem, *, time_limit_s: float, threads: int) -> EvictionBound | None:
    """The bound, or None when no cover exists (some stage cannot fit whatever is dropped: the
    MILP then proves infeasibility itself) or HiGHS proved no bound in ``time_limit_s``."""
    plain = problem.plain_energy_j
    ways = _ways_back(problem)
    free_return = tuple(sorted({way.tensor for way in ways if way.energy_j == 0.0}))
    rows = _forced_evictions(problem)
    if not rows:
        return EvictionBound(plain, (), free_return)
    m = np.asarray(problem.costs.ram_bytes, dtype=float)
    needed = {int(i) for crossing, _ in rows for i in crossing}
    ways = [way for way in ways if way.tensor in needed]
    if not ways:
        return None
    cols_of: dict[int, list[int]] = {}
    for j, way in enumerate(ways):
        cols_of.setdefault(way.tensor, []).append(j)
    starts, index, value = [0], [], []
    lower, upper = [], []

    def add_row(terms: list[tuple[int, float]], lo: float, hi: float) -> None:
        index.extend(c for c, _ in terms)
        value.extend(v for _, v in terms)
        starts.append(len(index))
        lower.append(lo)
        upper.append(hi)

    for crossing, excess in rows:  # each as "dropped bytes / excess >= 1": entries near 1
        terms = [(j, m[i] / excess) for i in crossing for j in cols_of.get(i, [])]
        if sum(m[i] for i in crossing if i in cols_of) < excess:
            return None
        add_row(terms, 1.0, np.inf)
    for both in (cols for cols in cols_of.values() if len(cols) > 1):
        add_row([(j, 1.0) for j in both], -np.inf, 1.0)  # one way back per tensor: its bytes count once
    slack = _runtime_slack_s(problem)
    timed = [(j, way.time_s / slack) for j, way in enumerate(ways) if way.time_s > 0]
    if timed:
        add_row(timed, -np.inf, 1.0)  # the ways back chosen fit in the runtime budget's slack together
    energy = np.array([way.energy_j for way in ways])
    scale = 1.0 / max(float(energy.max()), np.finfo(float).tiny)  # largest cost 1: no tiny entries
    cover = SparseMilp(
        cost=energy * scale,
        col_lower=np.zeros(len(ways)),
        col_upper=np.ones(len(ways)),
        is_integer=np.ones(len(ways), dtype=bool),
        row_start=np.asarray(starts, dtype=np.int64),
        col_index=np.asarray(index, dtype=np.int64),
        value=np.asarray(value, dtype=float),
        row_lower=np.asarray(lower, dtype=float),
        row_upper=np.asarray(upper, dtype=float),
        objective_offset=0.0,
    )
    h = configured_highs(cover, time_limit_s=time_limit_s, rel_gap=_COVER_GAP, threads=threads)
    h.run()
    dual = h.getInfo().mip_dual_bound
    if not np.isfinite(dual) or not has_solution(h):
        return None
    chosen = np.asarray(h.getSolution().col_value) > 0.5
    evicted = tuple(sorted({way.tensor for way, used in zip(ways, chosen, strict=True) if used}))
    return EvictionBound(plain + max(0.0, dual) / scale, evicted, free_return)


@dataclass(frozen=True, slots=True)
class _WayBack:
    """One way a dropped tensor can come back, with the least energy and runtime it spends."""

    tensor: int
    energy_j: float
    time_s: float


def _runtime_slack_s(problem: Problem) -> float:
    """Runtime the budget leaves beyond the plain pass (what recomputation, and paging if it is
    charged, may spend), with the model's own float allowance so the bound is never stricter."""
    plain = problem.plain_runtime_s
    return max(0.0, (problem.runtime_factor - 1.0) * plain) + 1e-9 * problem.runtime_factor * plain


def _ways_back(problem: Problem) -> list[_WayBack]:
    """Every way back the switches and the runtime budget allow: recompute (its compute energy and
    time), or page out and in (both energies; both times if paging time is charged). A way slower
    than the whole slack alone can never be taken."""
    costs, switches = problem.costs, problem.switches
    slack = _runtime_slack_s(problem)
    ways = []
    for i in range(len(problem.graph)):
        if switches.remat and costs.runtime_s[i] <= slack:
            ways.append(_WayBack(i, float(costs.compute_j[i]), float(costs.runtime_s[i])))
        paging_s = float(costs.pagein_s[i] + costs.pageout_s[i]) if switches.count_paging_time else 0.0
        if switches.paging and paging_s <= slack:
            ways.append(_WayBack(i, float(costs.pageout_j[i] + costs.pagein_j[i]), paging_s))
    return ways


def _forced_evictions(problem: Problem) -> list[tuple[list[int], float]]:
    """Per stage over budget even with only the crossing tensors besides its working set: those
    tensors and the bytes of them that must be out of RAM while the stage's node is computed."""
    graph = problem.graph
    m = np.asarray(problem.costs.ram_bytes, dtype=float)
    last = np.asarray(graph.last_use)
    budget = problem.activation_budget_bytes
    rows = []
    for t, node in enumerate(graph.nodes):
        inputs = set(node.inputs)
        crossing = [i for i in range(t) if last[i] > t and i not in inputs]
        excess = m[t] + m[list(inputs)].sum() + m[crossing].sum() - budget
        if excess > 0:
            rows.append((crossing, float(excess)))
    return rows


def attaining_restriction(model: MilpModel, bound: EvictionBound) -> tuple[np.ndarray, np.ndarray]:
    """Which columns to leave free, and values for the others, so that the restricted MILP searches
    the plans that could attain ``bound`` with its cover.

    Such a plan drops only the cover's tensors (and tensors that come back for free), so every other
    tensor is computed once, never paged, and stays in RAM from its computation to its last reader:
    those columns are fixed. It may keep a tensor longer only to feed a recomputation, so residency
    past the last reader stays free for the inputs of droppable tensors. RAM levels and frees stay
    free. The restricted optimum is a plan of the full model; when it reaches the bound it is
    optimal, otherwise it is a good start for the full MILP.
    """
    problem = model.problem
    droppable = np.zeros(len(problem.graph), dtype=bool)
    droppable[list(bound.evicted) + list(bound.free_return)] = True
    feeds = np.zeros_like(droppable)
    for j in np.flatnonzero(droppable):
        feeds[list(problem.graph.nodes[j].inputs)] = True
    free = ~model.is_integer | droppable[np.maximum(model.col_node, 0)] & (model.col_node >= 0)
    x = np.zeros(model.num_cols)
    resident = model.index[Family.RESIDENT]
    stage, tensor = np.nonzero(resident >= 0)
    cols = resident[stage, tensor]
    keep = ~droppable[tensor]
    within_life = stage <= np.asarray(problem.graph.last_use)[tensor]
    x[cols[keep & within_life]] = 1.0
    free[cols[keep & ~within_life & feeds[tensor]]] = True
    return free, x
