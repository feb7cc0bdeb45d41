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
that moment must come back before its reader runs: recomputed (at least its compute energy) or
paged in after having been paged out (its page-out and page-in energies). So in every plan the set
of tensors that are ever out of RAM while crossing covers, at every stage ``t``, the stage's
excess ``m_t + sum(inputs) + sum(crossing) - budget`` in bytes, and each of those tensors costs at
least its cheapest way back once. The cheapest cover (a small 0/1 covering program: one column per
tensor, one row per stage over budget) plus the plain pass's energy is therefore a lower bound on
every plan. HiGHS's dual bound is used, so a cover search stopped by its time limit still gives a
valid bound. Runtime is ignored, which only weakens the bound.

Measured (benchmarks/RESULTS.md): on every linear and transformer case of the benchmark it equals
the proven optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poet_gui.core.highs_backend import configured_highs, has_solution
from poet_gui.core.milp_model import Family, MilpModel, SparseMilp
from poet_gui.core.problem import Problem

#: The cover is solved to this relative gap; its dual bound is what is used either way.
_COVER_GAP = 1e-9


@dataclass(frozen=True, slots=True)
class EvictionBound:
    """``energy_j`` bounds the energy of every plan of the problem from below. ``evicted``: the
    tensors of the cheapest cover found (the ones a plan attaining the bound would drop and bring
    back once each); ``free_return``: tensors that come back at no cost (0-FLOP nodes such as
    inputs, without paging), which any plan may drop without paying for it."""

    energy_j: float
    evicted: tuple[int, ...]
    free_return: tuple[int, ...]


def eviction_bound(problem: Problem, *, time_limit_s: float, threads: int) -> EvictionBound | None:
    """The bound, or None when no cover exists (some stage cannot fit whatever is dropped: the
    MILP then proves infeasibility itself) or HiGHS proved no bound in ``time_limit_s``."""
    costs = problem.costs
    plain = problem.plain_energy_j
    back = _cheapest_return_j(problem)
    free_return = tuple(int(i) for i in np.flatnonzero(back == 0.0))
    rows = _forced_evictions(problem)
    if not rows:
        return EvictionBound(plain, (), free_return)
    m = np.asarray(costs.ram_bytes, dtype=float)
    usable = np.isfinite(back)
    cols = sorted({int(i) for crossing, _ in rows for i in crossing if usable[i]})
    if not cols:
        return None
    col_of = {c: j for j, c in enumerate(cols)}
    starts, index, value = [0], [], []
    for crossing, excess in rows:
        kept = [i for i in crossing if usable[i]]
        if m[kept].sum() < excess:
            return None
        index += [col_of[i] for i in kept]
        value += list(m[kept] / excess)  # each row as "dropped bytes / excess >= 1": entries near 1
        starts.append(len(index))
    scale = 1.0 / max(float(back[cols].max()), np.finfo(float).tiny)  # largest cost 1: no tiny entries
    cover = SparseMilp(
        cost=back[cols] * scale,
        col_lower=np.zeros(len(cols)),
        col_upper=np.ones(len(cols)),
        is_integer=np.ones(len(cols), dtype=bool),
        row_start=np.asarray(starts, dtype=np.int64),
        col_index=np.asarray(index, dtype=np.int64),
        value=np.asarray(value, dtype=float),
        row_lower=np.ones(len(rows)),
        row_upper=np.full(len(rows), np.inf),
        objective_offset=0.0,
    )
    h = configured_highs(cover, time_limit_s=time_limit_s, rel_gap=_COVER_GAP, threads=threads)
    h.run()
    dual = h.getInfo().mip_dual_bound
    if not np.isfinite(dual) or not has_solution(h):
        return None
    chosen = np.asarray(h.getSolution().col_value) > 0.5
    evicted = tuple(c for c, used in zip(cols, chosen, strict=True) if used)
    return EvictionBound(plain + max(0.0, dual) / scale, evicted, free_return)


def _cheapest_return_j(problem: Problem) -> np.ndarray:
    """Per tensor, the least energy of bringing it back after dropping it (inf if it cannot be)."""
    costs, switches = problem.costs, problem.switches
    back = np.full(len(problem.graph), np.inf)
    if switches.remat:
        back = np.minimum(back, np.asarray(costs.compute_j, dtype=float))
    if switches.paging:
        back = np.minimum(back, np.asarray(costs.pageout_j, dtype=float) + np.asarray(costs.pagein_j, dtype=float))
    return back


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
