"""Build the POET MILP (FORMULATION §4), one function per constraint family, in the formulation's order.

The model is *exactly* FORMULATION §4, but it creates no variable whose value is forced:

- the stage frontier: ``R[t,t] = 1`` and everything at ``i >= t`` is a constant, not a column;
- recomputes too long for the runtime budget: one taking more than the budget's slack over the
  plain pass cannot run, so it is not a column (at factor 1.0 no recompute with a cost is);
- dominated variables: a tensor on which no node of stage ``t`` or later depends (directly or
  through recomputed consumers) is never worth keeping (``SR``), storing (``SS``) or paging
  (``IN``/``OUT``) from then on, and a sink is never worth recomputing, so those are 0;
- ``FREE[t,(i,k)]`` is forced to 0 when ``k`` cannot run in stage ``t`` or ``R[t,t] = 1`` reads
  ``i`` later in the stage;
- ``U[t,k]`` exists only where RAM use can rise (a possible compute); frees before it are carried
  into it.
"""

from __future__ import annotations

import numpy as np

from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.milp_model.arrays import (
    RUNTIME_UNITS,
    Family,
    MilpModel,
    edge_array,
    ranges,
    readers_of,
    scaled_unit,
)
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
    """§4.2 ``R[t,v] <= R[t,u] + SR[t,u]`` for every edge and every stage where ``v`` may run, by
    edge (consumer, then producer), then stage."""
    edges = edge_array(b.p.graph)
    e, t = ranges(edges[:, 1], np.full(len(edges), b.n))
    u, v = edges[e, 0], edges[e, 1]
    rv = b.cols(Family.COMPUTE, t, v)  # -1 at t == v, where R[v,v] = 1
    runs = (t == v) | (rv >= 0)
    t, u, v, rv = t[runs], u[runs], v[runs], rv[runs]
    rows = np.arange(len(t))
    ru, su = b.cols(Family.COMPUTE, t, u), b.cols(Family.RESIDENT, t, u)
    terms = [(rows[c >= 0], c[c >= 0], coef) for c, coef in ((rv, 1.0), (ru, -1.0), (su, -1.0))]
    b.add_rows(rows, terms, -np.inf, np.where(t == v, -1.0, 0.0))  # at t == v: 1 <= R[t,u] + SR[t,u]


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
    b.add_rows(key, terms, -np.inf, 0.0)


def paging_sources(b: Builder) -> None:
    """§4.4 Page in only what is stored; page out only what is in RAM at the stage start."""
    for fam, src in ((Family.PAGE_IN, Family.STORED), (Family.PAGE_OUT, Family.RESIDENT)):
        idx = b.index.get(fam)
        if idx is None:
            continue
        ts, is_ = np.nonzero(idx >= 0)
        rows = np.arange(len(ts))
        b.add_rows(rows, [(rows, idx[ts, is_], 1.0), (rows, b.index[src][ts, is_], -1.0)], -np.inf, 0.0)


def memory(b: Builder) -> None:
    """§4.5 RAM in use after each compute of each stage stays within the activation budget.

    ``U[t,0] = R[t,0] m_0 + sum SR[t,i] m_i`` and
    ``U[t,k] = U[t,k-1] + R[t,k] m_k - sum_{(i,k-1)} m_i FREE[t,(i,k-1)]``: a node's dead inputs are
    released only after it has been computed, so each ``U[t,k]`` includes the node's output *and*
    its inputs (the working set of the step). A ``U`` column exists only where a compute can
    raise the level; frees in between are carried to the next one (the level only falls there).

    ``FREE[t,(i,k)]`` (FORMULATION §4.5) is 1 exactly when ``h = (1 - R[t,k]) + SR[t+1,i] + sum
    R[t,j]`` (consumers ``j > k`` of ``i`` computed in stage ``t``) is 0, via ``1 - FREE <= h <= H (1 -
    FREE)``. Here ``FREE`` is the AND of the negated terms written the tight way: ``FREE <= R[t,k]``,
    ``FREE + SR[t+1,i] <= 1``, ``FREE + R[t,j] <= 1``, with ``FREE`` continuous in [0, 1]. The lower
    side (freeing is compulsory) is left out: a free only lowers RAM use, so an optimum never gains by
    skipping one, and the schedule frees by the rule anyway. Same optimum, a much tighter LP
    relaxation, and no integer variable per edge and stage. ``FREE`` is no column where it is a
    constant 0: ``k`` cannot run in stage ``t``, or ``t`` itself reads ``i`` later in the stage.

    Columns and rows come in the order of a walk over stages ``t``, then steps ``k``: ``U[t,0]``,
    then for each ``k`` the frees after step ``k-1`` (each with its rows), then ``U[t,k]``.
    """
    n, m = b.n, b.m
    budget = b.p.activation_budget_bytes
    compute = b.index.get(Family.COMPUTE, np.full((n, n), -1, dtype=np.int64))
    resident = b.index[Family.RESIDENT]
    # RAM levels (t, k), k <= t: at every stage's start, at its own compute, and where R[t,k] may run.
    lt, lk = np.nonzero(np.tril(np.ones((n, n), dtype=bool)))
    has_level = (lk == 0) | (lk == lt) | (compute[lt, lk] >= 0)
    lt, lk = lt[has_level], lk[has_level]
    # Frees (t, i, k): i an input of k, k computed in stage t > k, t not a reader of i.
    edges = edge_array(b.p.graph)
    e, ft = ranges(edges[:, 1] + 1, np.full(len(edges), n))
    fi, fk = edges[e, 0], edges[e, 1]
    read_by = np.zeros((n, n), dtype=bool)  # read_by[i, t]: node t reads tensor i
    read_by[edges[:, 0], edges[:, 1]] = True
    rk = compute[ft, fk]
    is_column = (rk >= 0) & ~read_by[fi, ft]
    ft, fi, fk, rk = ft[is_column], fi[is_column], fk[is_column], rk[is_column]
    # Column order: stage, step (a free after step k belongs before U[t,k+1]), frees before the
    # level, frees by input.
    num_levels, num_frees = len(lt), len(ft)
    order = np.lexsort((
        np.concatenate([np.zeros(num_levels, dtype=np.int64), fi]),
        np.concatenate([np.ones(num_levels, dtype=np.int64), np.zeros(num_frees, dtype=np.int64)]),
        np.concatenate([lk, fk + 1]),
        np.concatenate([lt, ft]),
    ))
    rank = np.empty(num_levels + num_frees, dtype=np.int64)
    rank[order] = np.arange(len(order))
    stage_of = np.concatenate([lt, ft])[order]
    node_of = np.concatenate([np.full(num_levels, -1, dtype=np.int64), fi])[order]
    is_free = order >= num_levels
    cols = b.add_cols(np.zeros(len(order)), np.where(is_free, 1.0, budget), stage_of, node_of)[rank]
    b.check_deadline()  # the largest family: its rows take as long again
    level_col, free_col = cols[:num_levels], cols[num_levels:]
    # A free goes into the first level at or after step k + 1 of its stage (U[t,t] always exists).
    level_key = lt * (n + 1) + lk
    level_of_free = np.searchsorted(level_key, ft * (n + 1) + fk + 1)
    # Blockers of each free: SR[t+1,i], then R[t,j] for readers k < j < t of i that may run then.
    sr_next = b.cols(Family.RESIDENT, np.minimum(ft + 1, n - 1), fi)
    sr_next[ft + 1 >= n] = -1
    with_sr = np.flatnonzero(sr_next >= 0)
    free_of_reader, j = readers_of(b.p.graph, fi)
    rj = compute[ft[free_of_reader], j]
    later = (j > fk[free_of_reader]) & (j < ft[free_of_reader]) & (rj >= 0)
    free_of_reader, j, rj = free_of_reader[later], j[later], rj[later]
    # Row order: a level's row where its column is; after a free's column its "FREE <= R[t,k]" row,
    # then its blockers' rows, SR[t+1,i] first, then by reader.
    row_t = np.concatenate([lt, ft, ft[with_sr], ft[free_of_reader]])
    row_k = np.concatenate([lk, fk + 1, fk[with_sr] + 1, fk[free_of_reader] + 1])
    num_free_rows = num_frees + len(with_sr) + len(j)
    row_slot = np.r_[np.ones(num_levels, dtype=np.int64), np.zeros(num_free_rows, dtype=np.int64)]
    row_input = np.concatenate([np.zeros(num_levels, dtype=np.int64), fi, fi[with_sr], fi[free_of_reader]])
    row_sub = np.r_[np.zeros(num_levels + num_frees, dtype=np.int64), np.ones(len(with_sr), dtype=np.int64), 2 + j]
    key = np.empty(len(row_t), dtype=np.int64)
    key[np.lexsort((row_sub, row_input, row_slot, row_k, row_t))] = np.arange(len(row_t))
    level_row = np.arange(num_levels)
    rk_row = num_levels + np.arange(num_frees)
    sr_row = num_levels + num_frees + np.arange(len(with_sr))
    reader_row = num_levels + num_frees + len(with_sr) + np.arange(len(j))
    # The levels' terms, in the order FORMULATION writes them: the level, the one before it, then
    # at a stage's start what is in RAM, after a step the frees and the step's own output.
    first = lk == 0
    start_t = lt[first]
    r0 = compute[start_t, 0]  # -1 at t = 0, where node 0's output is a constant
    st, si = np.nonzero(np.tril(resident >= 0, -1))
    start_row = np.searchsorted(level_key, st * (n + 1))
    step = np.flatnonzero(~first)
    own = np.flatnonzero((lk > 0) & (lk < lt))
    free_order = np.argsort(free_col, kind="stable")
    terms = [
        (level_row, level_col, 1.0),
        (level_row[step], level_col[step - 1], -1.0),
        (level_row[first][r0 >= 0], r0[r0 >= 0], -m[0]),
        (start_row, resident[st, si], -m[si]),
        (level_of_free[free_order], free_col[free_order], m[fi[free_order]]),
        (level_row[own], compute[lt[own], lk[own]], -m[lk[own]]),
        (rk_row, free_col, 1.0),
        (rk_row, rk, -1.0),
        (sr_row, free_col[with_sr], 1.0),
        (sr_row, sr_next[with_sr], 1.0),
        (reader_row, free_col[free_of_reader], 1.0),
        (reader_row, rj, 1.0),
    ]
    const = np.where(lk == 0, np.where(lt == 0, m[0], 0.0), np.where(lk == lt, m[lk], 0.0))
    lo = np.concatenate([const, np.full(num_free_rows, -np.inf)])
    hi = np.concatenate([const, np.zeros(num_frees), np.ones(len(with_sr) + len(j))])
    number = b.add_rows(key, terms, lo, hi)
    b.free_cols = np.stack([free_col, ft, fi, fk], axis=1)[free_order]
    b.level_rows = np.stack([level_col, number[:num_levels]], axis=1)  # levels are made in (t, k) order


def runtime(b: Builder) -> None:
    """§4.6 Total compute time (plus paging time, if switched on) within the runtime budget."""
    p = b.p
    scale = RUNTIME_UNITS / scaled_unit(p.plain_runtime_s, p.costs.pagein_s)
    cols, coefs = [], []
    per_family = [(Family.COMPUTE, p.costs.runtime_s)]
    if p.switches.count_paging_time:
        per_family += [(Family.PAGE_IN, p.costs.pagein_s), (Family.PAGE_OUT, p.costs.pageout_s)]
    for fam, secs in per_family:
        idx = b.index.get(fam)
        if idx is None:
            continue
        ts, is_ = np.nonzero(idx >= 0)
        coef = np.asarray(secs, dtype=float)[is_] * scale
        cols.append(idx[ts, is_][coef > 0])
        coefs.append(coef[coef > 0])
    col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    # Every R[t,t] = 1 spends the plain pass (RUNTIME_UNITS), the rest of the budget is left. Written
    # so, not as ``budget * scale - plain * scale``, whose rounding left an empty row at factor 1.0
    # with the bound -1e-10 that no plan meets; a pass taking no time has a budget of 0 s.
    slack = (p.runtime_factor - 1.0) * RUNTIME_UNITS if p.plain_runtime_s > 0 else 0.0
    coef = np.concatenate(coefs) if coefs else np.zeros(0)
    b.add_rows(np.zeros(1), [(np.zeros(len(col), dtype=np.int64), col, coef)], -np.inf, slack)


def build_model(problem: Problem, *, deadline: float | None = None) -> MilpModel:
    """Build the exact, frontier-reduced MILP of ``problem``.

    With a ``deadline`` (a ``perf_counter`` time) the build raises
    :class:`~poet_gui.core.solve.milp_model.builder.BuildDeadlineError` once it cannot end by then:
    the model grows with the square of the graph (2.4 million columns and 2 s on an 869-node
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
