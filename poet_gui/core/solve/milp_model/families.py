"""Build the POET MILP (FORMULATION §4), one function per constraint family, in the formulation's order.

The model is *exactly* FORMULATION §4, but it creates no variable whose value is forced:

- the stage frontier: ``R[t,t] = 1`` and everything at ``i >= t`` is a constant, not a column;
- recomputes too long for the runtime budget: one taking more than the budget's slack over the
  plain pass cannot run, so it is not a column (at factor 1.0 no recompute with a cost is);
- dominated variables: a tensor on which no node of stage ``t`` or later depends (directly or
  through recomputed consumers) is never worth keeping (``SR``), storing (``SS``) or paging
  (``IN``/``OUT``) from then on, and a sink is never worth recomputing, so those are 0;
- ``FREE[t,(i,k)]`` is forced to 0 when ``R[t,j] = 1`` is a constant for a later consumer ``j``,
  and to 1 when every term of its linearisation is a constant 0;
- ``U[t,k]`` exists only where RAM use can change (a possible compute or free).
"""

from __future__ import annotations

import numpy as np

from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.milp_model.arrays import RUNTIME_UNITS, Family, MilpModel, scaled_unit
from poet_gui.core.solve.milp_model.builder import Builder


def build_columns(b: Builder) -> None:
    """§4.1 and §4.7: one binary column per decision the stage frontier and the switches leave free,
    costed by the objective (compute, page-in and page-out energy)."""
    n, reach = b.n, b.reach
    sw = b.p.switches
    t_idx, i_idx = np.indices((n, n))
    below = i_idx < t_idx
    has_succ = np.array([bool(s) for s in b.succ])
    needed_from_t = reach[i_idx] >= t_idx  # a node of stage >= t depends on i
    costs = b.p.costs
    if sw.remat:
        # A recompute that alone takes longer than the runtime budget leaves beyond the plain pass
        # can never run (at factor 1.0: none with a cost can), so it gets no column.
        runtime = np.asarray(costs.runtime_s, dtype=float)
        slack = (b.p.runtime_factor - 1.0) * b.p.plain_runtime_s
        fits = runtime <= slack + 1e-9 * b.p.runtime_factor * b.p.plain_runtime_s
        b.add_family(Family.COMPUTE, below & (has_succ & fits)[i_idx], np.asarray(costs.compute_j))
    b.add_family(Family.RESIDENT, below & needed_from_t, None)
    if sw.paging:
        # Storage is only useful from two stages after production (page out, then it is there)
        # until one stage before the last need (a page-in lands in RAM a stage later).
        store = (t_idx >= i_idx + 2) & (t_idx <= reach[i_idx] - 1)
        b.add_family(Family.STORED, store, None)
        b.add_family(Family.PAGE_IN, store, np.asarray(costs.pagein_j))
        b.add_family(Family.PAGE_OUT, below & (t_idx <= reach[i_idx] - 2), np.asarray(costs.pageout_j))


def inputs_present(b: Builder) -> None:
    """§4.2 ``R[t,v] <= R[t,u] + SR[t,u]`` for every edge and every stage where ``v`` may run."""
    for u, v in b.p.graph.edges:
        b.check_deadline()
        for t in range(v, b.n):
            rv = b.col(Family.COMPUTE, t, v) if v < t else None
            if v < t and rv < 0:
                continue  # v cannot run in stage t
            terms = [(c, -1.0) for c in (b.col(Family.COMPUTE, t, u), b.col(Family.RESIDENT, t, u)) if c >= 0]
            if rv is None:
                b.add_row(terms, -np.inf, -1.0)  # 1 <= R[t,u] + SR[t,u]
            else:
                b.add_row([(rv, 1.0), *terms], -np.inf, 0.0)


def persistence(b: Builder) -> None:
    """§4.3 A tensor is in RAM (storage) at a stage start only if it was there, made, or moved there:
    ``SR[t+1,i] <= SR[t,i] + R[t,i] + IN[t,i]`` and ``SS[t+1,i] <= SS[t,i] + OUT[t,i]``, by stage,
    then tensor, RAM before storage (built as arrays: resnet50 has ~200k of these rows)."""
    n = b.n
    keys: list[np.ndarray] = []
    terms: list[tuple[np.ndarray, np.ndarray, float]] = []
    offset = 0
    families = (
        (Family.RESIDENT, (Family.RESIDENT, Family.COMPUTE, Family.PAGE_IN)),
        (Family.STORED, (Family.STORED, Family.PAGE_OUT)),
    )
    for flag, (nxt_fam, sources) in enumerate(families):
        nxt_idx = b.index.get(nxt_fam)
        if nxt_idx is None:
            continue
        ts, is_ = np.nonzero(nxt_idx[1:] >= 0)
        below = is_ < ts  # SR[t+1,t] <= R[t,t] = 1 always holds: no row
        ts, is_ = ts[below], is_[below]
        rows = offset + np.arange(len(ts))
        keys.append((ts * n + is_) * 2 + flag)
        terms.append((rows, nxt_idx[ts + 1, is_], 1.0))
        for fam in sources:
            idx = b.index.get(fam)
            if idx is not None:
                c = idx[ts, is_]
                has = c >= 0
                terms.append((rows[has], c[has], -1.0))
        offset += len(ts)
    key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    b.add_rows(key, terms, 0.0)


def paging_sources(b: Builder) -> None:
    """§4.4 Page in only what is stored; page out only what is in RAM at the stage start."""
    for fam, src in ((Family.PAGE_IN, Family.STORED), (Family.PAGE_OUT, Family.RESIDENT)):
        idx = b.index.get(fam)
        if idx is None:
            continue
        ts, is_ = np.nonzero(idx >= 0)
        rows = np.arange(len(ts))
        b.add_rows(rows, [(rows, idx[ts, is_], 1.0), (rows, b.index[src][ts, is_], -1.0)], 0.0)


def free_column(b: Builder, t: int, i: int, k: int) -> int | None:
    """§4.5 ``FREE[t,(i,k)]``: a column, ``None`` if it is constant 0, or -1 if it is constant 1.

    FORMULATION §4.5 sets ``FREE = 1`` exactly when ``h = (1 - R[t,k]) + SR[t+1,i] + sum R[t,j]``
    (consumers ``j > k`` of ``i`` computed in stage ``t``) is 0, via ``1 - FREE <= h <= H (1 - FREE)``.
    Here ``FREE`` is the AND of the negated terms written the tight way: ``FREE <= R[t,k]``,
    ``FREE + SR[t+1,i] <= 1``, ``FREE + R[t,j] <= 1``, with ``FREE`` continuous in [0, 1]. The
    lower side (freeing is compulsory) is left out: a free only lowers RAM use, so an optimum never
    gains by skipping one, and the schedule frees by the rule anyway. Same optimum, a much tighter
    LP relaxation, and no integer variable per edge and stage.
    """
    n = b.n
    if k < t and t in b.succ[i]:
        return None  # R[t,t] = 1 reads i later in the stage: i is never freed after k
    rk = b.col(Family.COMPUTE, t, k) if k < t else None
    if k < t and rk < 0:
        return None  # k does not run in stage t
    blockers: list[int] = []  # columns that, when 1, forbid the free
    if t + 1 < n:
        c = b.col(Family.RESIDENT, t + 1, i)
        if c >= 0:
            blockers.append(c)
    for j in b.succ[i]:
        if k < j < t:
            c = b.col(Family.COMPUTE, t, j)
            if c >= 0:
                blockers.append(c)
    if rk is None and not blockers:
        return -1
    names = b.p.graph.nodes
    f = b.add_col(f"FREE[{t}][{names[i].name}->{names[k].name}]", t, i, 0.0, 1.0, integer=False)
    b.free_cols.append((f, t, i, k))
    if rk is not None:
        b.add_row([(f, 1.0), (rk, -1.0)], -np.inf, 0.0)
    for c in blockers:
        b.add_row([(f, 1.0), (c, 1.0)], -np.inf, 1.0)
    return f


def memory(b: Builder) -> None:
    """§4.5 RAM in use after each compute of each stage stays within the activation budget.

    ``U[t,0] = R[t,0] m_0 + sum SR[t,i] m_i`` and
    ``U[t,k] = U[t,k-1] + R[t,k] m_k - sum_{(i,k-1)} m_i FREE[t,(i,k-1)]``: a node's dead inputs are
    released only after it has been computed, so each ``U[t,k]`` includes the node's output *and*
    its inputs (the working set of the step). A ``U`` column exists only where a compute can
    raise the level; frees in between are carried to the next one (the level only falls there).
    """
    n, m = b.n, b.m
    budget = b.p.activation_budget_bytes
    in_edges: list[list[int]] = [[] for _ in range(n)]
    for u, v in b.p.graph.edges:
        in_edges[v].append(u)
    names = b.p.graph.nodes
    for t in range(n):
        b.check_deadline()
        level_terms: list[tuple[int, float]] = []
        level_const = 0.0
        r0 = b.col(Family.COMPUTE, t, 0) if t > 0 else None
        if r0 is None:
            level_const += m[0]
        elif r0 >= 0:
            level_terms.append((r0, m[0]))
        for i in range(t):
            c = b.col(Family.RESIDENT, t, i)
            if c >= 0:
                level_terms.append((c, m[i]))
        prev = b.add_col(f"U[{t}][{names[0].name}]", t, -1, 0.0, budget, integer=False)
        b.level_rows.append((prev, len(b.row_lo)))
        b.add_row([(prev, 1.0)] + [(c, -v) for c, v in level_terms], level_const, level_const)
        pending: list[tuple[int, float]] = []  # frees since prev, as (column, bytes)
        pending_const = 0.0
        for k in range(1, t + 1):
            for i in in_edges[k - 1]:
                f = free_column(b, t, i, k - 1)
                if f is None:
                    continue
                if f < 0:
                    pending_const -= m[i]
                else:
                    pending.append((f, m[i]))
            rk = b.col(Family.COMPUTE, t, k) if k < t else None
            if k < t and rk < 0:
                continue
            terms: list[tuple[int, float]] = [(prev, -1.0), *pending]
            const = pending_const
            if rk is None:
                const += m[k]
            else:
                terms.append((rk, -m[k]))
            cur = b.add_col(f"U[{t}][{names[k].name}]", t, -1, 0.0, budget, integer=False)
            b.level_rows.append((cur, len(b.row_lo)))
            b.add_row([(cur, 1.0), *terms], const, const)
            prev, pending, pending_const = cur, [], 0.0


def runtime(b: Builder) -> None:
    """§4.6 Total compute time (plus paging time, if switched on) within the runtime budget."""
    p = b.p
    scale = RUNTIME_UNITS / scaled_unit(p.plain_runtime_s, p.costs.pagein_s)
    terms: list[tuple[int, float]] = []
    per_family = [(Family.COMPUTE, p.costs.runtime_s)]
    if p.switches.count_paging_time:
        per_family += [(Family.PAGE_IN, p.costs.pagein_s), (Family.PAGE_OUT, p.costs.pageout_s)]
    for fam, secs in per_family:
        idx = b.index.get(fam)
        if idx is None:
            continue
        ts, is_ = np.nonzero(idx >= 0)
        coef = np.asarray(secs)[is_] * scale
        terms.extend((int(c), float(v)) for c, v in zip(idx[ts, is_], coef, strict=True) if v > 0)
    # Every R[t,t] = 1 spends the plain pass (RUNTIME_UNITS), the rest of the budget is left. Written
    # so, not as ``budget * scale - plain * scale``, whose rounding left an empty row at factor 1.0
    # with the bound -1e-10 that no plan meets; a pass taking no time has a budget of 0 s.
    slack = (p.runtime_factor - 1.0) * RUNTIME_UNITS if p.plain_runtime_s > 0 else 0.0
    b.add_row(terms, -np.inf, slack)


def build_model(problem: Problem, *, deadline: float | None = None) -> MilpModel:
    """Build the exact, frontier-reduced MILP of ``problem``.

    With a ``deadline`` (a ``perf_counter`` time) the build raises
    :class:`~poet_gui.core.solve.milp_model.builder.BuildDeadlineError` once it cannot end by then:
    the model grows with the square of the graph (2.4 million columns and 26 s on an 869-node
    ResNet), and a solve's time limit covers its build.
    """
    # Extreme device figures can overflow the scaling; finish() refuses the result with a message.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _build(problem, deadline)


def _build(problem: Problem, deadline: float | None) -> MilpModel:
    b = Builder(problem, deadline)
    for family in (build_columns, inputs_present, persistence, paging_sources, memory, runtime):
        family(b)
        b.check_deadline()
    b.check_deadline(before_finish=True)
    return b.finish()
