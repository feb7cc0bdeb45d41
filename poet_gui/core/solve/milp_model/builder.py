"""Build the POET MILP (FORMULATION §4) as solver-neutral sparse arrays.

Why arrays and not a modelling layer: PuLP needs seconds to build a 150k-variable model in Python
objects, while highspy takes the same model as numpy arrays in a fraction of a second. The CBC
back-end turns these arrays into PuLP objects; the HiGHS back-end passes them straight through.

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

Units, for solver numerics (FORMULATION §4 "Numerics"): the objective is scaled so a plain pass
costs ``OBJECTIVE_UNITS``; the runtime row so a plain pass takes ``RUNTIME_UNITS``; memory stays in
bytes so a one-byte budget change is visible to the solver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np

from poet_gui.core.errors import SolveError
from poet_gui.core.schedule.plan import Decisions
from poet_gui.core.schedule.problem import Problem

OBJECTIVE_UNITS = 1e6
RUNTIME_UNITS = 1e6


class Family(StrEnum):
    """The 0/1 decision families of the MILP (FORMULATION §4)."""

    COMPUTE = "R"
    RESIDENT = "SR"
    STORED = "SS"
    PAGE_IN = "IN"
    PAGE_OUT = "OUT"


@dataclass(frozen=True)
class SparseMilp:
    """Minimise ``cost @ x + objective_offset`` s.t. ``row_lower <= A x <= row_upper``, column bounds and
    integrality, with ``A`` in CSR form (``row_start``, ``col_index``, ``value``): what a solver is given,
    for the whole model or for a part of it (:func:`milp_window.restrict`)."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    is_integer: np.ndarray
    row_start: np.ndarray
    col_index: np.ndarray
    value: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    objective_offset: float

    @property
    def num_cols(self) -> int:
        return len(self.cost)

    @property
    def num_rows(self) -> int:
        return len(self.row_lower)

    @property
    def num_nonzeros(self) -> int:
        return len(self.value)

    @cached_property
    def row_of_nonzero(self) -> np.ndarray:
        """The row of every nonzero (CSR expanded): computed once, as every window of a sweep needs it."""
        return np.repeat(np.arange(self.num_rows), np.diff(self.row_start))

    def row_activity(self, x: np.ndarray) -> np.ndarray:
        """``A x``."""
        return np.bincount(self.row_of_nonzero, weights=self.value * x[self.col_index], minlength=self.num_rows)


@dataclass(frozen=True)
class MilpModel(SparseMilp):
    """The POET MILP of one problem (FORMULATION §4), with what is needed to read its columns.

    ``index[family][t, i]`` is the column of that decision, or -1 where the decision is a constant.
    ``objective_offset`` is the scaled cost of the constant computes ``R[t,t] = 1``. ``col_stage[j]``
    is the stage a column belongs to and ``col_node[j]`` the tensor it decides about (-1 for a RAM
    level), so a window of stages or a group of tensors can be re-optimised on its own.
    """

    problem: Problem
    index: dict[Family, np.ndarray]
    col_names: tuple[str, ...]
    objective_scale: float
    build_s: float
    col_stage: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    col_node: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    free_cols: tuple[tuple[int, int, int, int], ...] = field(default=(), repr=False)  # (col, t, i, k)
    level_rows: tuple[tuple[int, int], ...] = field(default=(), repr=False)  # (U column, its defining row)

    def energy_j(self, scaled_objective: float) -> float:
        """Convert a scaled objective value (offset included) back to joules."""
        return scaled_objective / self.objective_scale

    def start_vector(self, d: Decisions) -> np.ndarray:
        """Every column's value for the schedule ``d`` — a MIP start for the solver.

        Decision columns come from ``d``; each ``FREE`` from its defining rule (FORMULATION §4.5); each
        ``U`` from its defining equality, in creation order (each refers only to earlier levels).
        Schedules built with the MILP's accounting (the heuristics', the MILP's own) satisfy every row;
        HiGHS checks a start and ignores one that does not.
        """
        x = np.zeros(self.num_cols)
        mats = {Family.COMPUTE: d.compute, Family.RESIDENT: d.resident, Family.STORED: d.stored,
                Family.PAGE_IN: d.page_in, Family.PAGE_OUT: d.page_out}  # fmt: skip
        for fam, idx in self.index.items():
            has = idx >= 0
            x[idx[has]] = mats[fam][has]
        n = len(self.problem.graph)
        succ = self.problem.graph.successors
        for col, t, i, k in self.free_cols:
            kept = t + 1 < n and d.resident[t + 1, i]
            read_later = any(d.compute[t, j] for j in succ[i] if k < j <= t)
            x[col] = float(d.compute[t, k] and not kept and not read_later)
        for col, row in self.level_rows:
            a, b = self.row_start[row], self.row_start[row + 1]
            cols, vals = self.col_index[a:b], self.value[a:b]
            others = cols != col
            x[col] = self.row_lower[row] - float(vals[others] @ x[cols[others]])
        return x

    def decisions_from(self, x: np.ndarray) -> dict[Family, np.ndarray]:
        """Round a solver's column values to the five boolean ``(T, T)`` decision matrices."""
        n = len(self.problem.graph)
        out: dict[Family, np.ndarray] = {}
        for fam in Family:
            mat = np.zeros((n, n), dtype=bool)
            idx = self.index.get(fam)
            if idx is not None:
                has = idx >= 0
                mat[has] = x[idx[has]] > 0.5
            out[fam] = mat
        out[Family.COMPUTE][np.arange(n), np.arange(n)] = True
        return out


def _unit(plain: float, fallback: np.ndarray) -> float:
    """The quantity scaled to the model's unit: the plain pass's, or for a graph whose plain pass
    costs nothing (all 0-FLOP nodes) the largest paging cost, so scaling never divides by ~0."""
    if plain > 0:
        return plain
    largest = float(np.max(fallback)) if len(fallback) else 0.0
    return largest if largest > 0 else 1.0


class _Builder:
    """Accumulates columns and rows; one helper method per constraint family keeps each readable."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        g = problem.graph
        self.n = len(g)
        self.succ = g.successors
        self.reach = np.asarray(g.last_descendant)
        self.m = np.asarray(problem.costs.ram_bytes, dtype=float)
        self.cost: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.names: list[str] = []
        self.stages: list[np.ndarray] = []
        self.nodes: list[np.ndarray] = []
        self.single: list[tuple[float, float, bool, int, int]] = []  # (lower, upper, integer, stage, node)
        self.ncols = 0
        self.rows_r: list[int] = []
        self.rows_c: list[int] = []
        self.rows_v: list[float] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self.energy_scale = OBJECTIVE_UNITS / _unit(problem.plain_energy_j, problem.costs.pagein_j)
        self.index: dict[Family, np.ndarray] = {}
        self.free_cols: list[tuple[int, int, int, int]] = []
        self.level_rows: list[tuple[int, int]] = []

    # --- columns -------------------------------------------------------------------------------
    def add_family(self, fam: Family, mask: np.ndarray, unit_cost: np.ndarray | None) -> None:
        """Create one binary column per True entry of ``mask[t, i]`` (cost ``unit_cost[i]``)."""
        self.flush_single()
        idx = np.full((self.n, self.n), -1, dtype=np.int64)
        ts, is_ = np.nonzero(mask)
        count = len(ts)
        idx[ts, is_] = np.arange(self.ncols, self.ncols + count)
        self.ncols += count
        costs = np.zeros(count) if unit_cost is None else unit_cost[is_] * self.energy_scale
        self.cost.append(costs)
        self.lower.append(np.zeros(count))
        self.upper.append(np.ones(count))
        self.integer.append(np.ones(count, dtype=bool))
        self.stages.append(ts.astype(np.int64))
        self.nodes.append(is_.astype(np.int64))
        names = self.p.graph.nodes
        self.names.extend(f"{fam.value}[{t}][{names[i].name}]" for t, i in zip(ts, is_, strict=True))
        self.index[fam] = idx

    def add_col(self, name: str, stage: int, node: int, lower: float, upper: float, *, integer: bool) -> int:
        """One cost-free column; kept as plain tuples until :meth:`flush_single` (numpy per column is slow)."""
        col = self.ncols
        self.ncols += 1
        self.single.append((lower, upper, integer, stage, node))
        self.names.append(name)
        return col

    def flush_single(self) -> None:
        if not self.single:
            return
        lower, upper, integer, stage, node = zip(*self.single, strict=True)
        self.cost.append(np.zeros(len(lower)))
        self.lower.append(np.array(lower, dtype=float))
        self.upper.append(np.array(upper, dtype=float))
        self.integer.append(np.array(integer, dtype=bool))
        self.stages.append(np.array(stage, dtype=np.int64))
        self.nodes.append(np.array(node, dtype=np.int64))
        self.single = []

    def col(self, fam: Family, t: int, i: int) -> int:
        """Column of a decision, or -1 if it is a constant (0, or 1 for ``R[t,t]``)."""
        idx = self.index.get(fam)
        return -1 if idx is None else int(idx[t, i])

    # --- rows ----------------------------------------------------------------------------------
    def add_row(self, terms: list[tuple[int, float]], lo: float, hi: float) -> None:
        if terms:
            cols, values = zip(*terms, strict=True)
            self.rows_r.extend([len(self.row_lo)] * len(cols))
            self.rows_c.extend(cols)
            self.rows_v.extend(values)
        self.row_lo.append(lo)
        self.row_hi.append(hi)

    def add_rows(self, key: np.ndarray, terms: list[tuple[np.ndarray, np.ndarray, float]], hi: float) -> None:
        """Rows ``sum coef * column <= hi``, one per entry of ``key``, appended in ``key`` order.

        ``terms`` lists ``(row, column, coef)``: arrays of row positions (into ``key``) and columns with
        one coefficient; within a row, terms keep the order of this list (``finish`` sorts stably).
        """
        first = len(self.row_lo)
        rank = np.empty(len(key), dtype=np.int64)
        rank[np.argsort(key, kind="stable")] = np.arange(len(key))
        for rows, cols, coef in terms:
            self.rows_r.extend((first + rank[rows]).tolist())
            self.rows_c.extend(np.asarray(cols, dtype=np.int64).tolist())
            self.rows_v.extend([coef] * len(rows))
        self.row_lo.extend([-np.inf] * len(key))
        self.row_hi.extend([hi] * len(key))

    # --- the model -----------------------------------------------------------------------------
    def build_columns(self) -> None:
        n, reach = self.n, self.reach
        sw = self.p.switches
        t_idx, i_idx = np.indices((n, n))
        below = i_idx < t_idx
        has_succ = np.array([bool(s) for s in self.succ])
        needed_from_t = reach[i_idx] >= t_idx  # a node of stage >= t depends on i
        costs = self.p.costs
        if sw.remat:
            # A recompute that alone takes longer than the runtime budget leaves beyond the plain pass
            # can never run (at factor 1.0: none with a cost can), so it gets no column.
            runtime = np.asarray(costs.runtime_s, dtype=float)
            slack = (self.p.runtime_factor - 1.0) * self.p.plain_runtime_s
            fits = runtime <= slack + 1e-9 * self.p.runtime_factor * self.p.plain_runtime_s
            self.add_family(Family.COMPUTE, below & (has_succ & fits)[i_idx], np.asarray(costs.compute_j))
        self.add_family(Family.RESIDENT, below & needed_from_t, None)
        if sw.paging:
            # Storage is only useful from two stages after production (page out, then it is there)
            # until one stage before the last need (a page-in lands in RAM a stage later).
            store = (t_idx >= i_idx + 2) & (t_idx <= reach[i_idx] - 1)
            self.add_family(Family.STORED, store, None)
            self.add_family(Family.PAGE_IN, store, np.asarray(costs.pagein_j))
            self.add_family(Family.PAGE_OUT, below & (t_idx <= reach[i_idx] - 2), np.asarray(costs.pageout_j))

    def inputs_present(self) -> None:
        """``R[t,v] <= R[t,u] + SR[t,u]`` for every edge and every stage where ``v`` may run."""
        for u, v in self.p.graph.edges:
            for t in range(v, self.n):
                rv = self.col(Family.COMPUTE, t, v) if v < t else None
                if v < t and rv < 0:
                    continue  # v cannot run in stage t
                terms = [(c, -1.0) for c in (self.col(Family.COMPUTE, t, u), self.col(Family.RESIDENT, t, u)) if c >= 0]
                if rv is None:
                    self.add_row(terms, -np.inf, -1.0)  # 1 <= R[t,u] + SR[t,u]
                else:
                    self.add_row([(rv, 1.0), *terms], -np.inf, 0.0)

    def persistence(self) -> None:
        """A tensor is in RAM (storage) at a stage start only if it was there, made, or moved there:
        ``SR[t+1,i] <= SR[t,i] + R[t,i] + IN[t,i]`` and ``SS[t+1,i] <= SS[t,i] + OUT[t,i]``, by stage,
        then tensor, RAM before storage (built as arrays: resnet50 has ~200k of these rows)."""
        n = self.n
        keys: list[np.ndarray] = []
        terms: list[tuple[np.ndarray, np.ndarray, float]] = []
        offset = 0
        families = (
            (Family.RESIDENT, (Family.RESIDENT, Family.COMPUTE, Family.PAGE_IN)),
            (Family.STORED, (Family.STORED, Family.PAGE_OUT)),
        )
        for flag, (nxt_fam, sources) in enumerate(families):
            nxt_idx = self.index.get(nxt_fam)
            if nxt_idx is None:
                continue
            ts, is_ = np.nonzero(nxt_idx[1:] >= 0)
            below = is_ < ts  # SR[t+1,t] <= R[t,t] = 1 always holds: no row
            ts, is_ = ts[below], is_[below]
            rows = offset + np.arange(len(ts))
            keys.append((ts * n + is_) * 2 + flag)
            terms.append((rows, nxt_idx[ts + 1, is_], 1.0))
            for fam in sources:
                idx = self.index.get(fam)
                if idx is not None:
                    c = idx[ts, is_]
                    has = c >= 0
                    terms.append((rows[has], c[has], -1.0))
            offset += len(ts)
        key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
        self.add_rows(key, terms, 0.0)

    def paging_sources(self) -> None:
        """Page in only what is stored; page out only what is in RAM at the stage start."""
        for fam, src in ((Family.PAGE_IN, Family.STORED), (Family.PAGE_OUT, Family.RESIDENT)):
            idx = self.index.get(fam)
            if idx is None:
                continue
            ts, is_ = np.nonzero(idx >= 0)
            rows = np.arange(len(ts))
            self.add_rows(rows, [(rows, idx[ts, is_], 1.0), (rows, self.index[src][ts, is_], -1.0)], 0.0)

    def free_column(self, t: int, i: int, k: int) -> int | None:
        """``FREE[t,(i,k)]``: a column, ``None`` if it is constant 0, or -1 if it is constant 1.

        FORMULATION §4.5 sets ``FREE = 1`` exactly when ``h = (1 - R[t,k]) + SR[t+1,i] + sum R[t,j]``
        (consumers ``j > k`` of ``i`` computed in stage ``t``) is 0, via ``1 - FREE <= h <= H (1 - FREE)``.
        Here ``FREE`` is the AND of the negated terms written the tight way: ``FREE <= R[t,k]``,
        ``FREE + SR[t+1,i] <= 1``, ``FREE + R[t,j] <= 1``, with ``FREE`` continuous in [0, 1]. The
        lower side (freeing is compulsory) is left out: a free only lowers RAM use, so an optimum never
        gains by skipping one, and the schedule frees by the rule anyway. Same optimum, a much tighter
        LP relaxation, and no integer variable per edge and stage.
        """
        n = self.n
        if k < t and t in self.succ[i]:
            return None  # R[t,t] = 1 reads i later in the stage: i is never freed after k
        rk = self.col(Family.COMPUTE, t, k) if k < t else None
        if k < t and rk < 0:
            return None  # k does not run in stage t
        blockers: list[int] = []  # columns that, when 1, forbid the free
        if t + 1 < n:
            c = self.col(Family.RESIDENT, t + 1, i)
            if c >= 0:
                blockers.append(c)
        for j in self.succ[i]:
            if k < j < t:
                c = self.col(Family.COMPUTE, t, j)
                if c >= 0:
                    blockers.append(c)
        if rk is None and not blockers:
            return -1
        names = self.p.graph.nodes
        f = self.add_col(f"FREE[{t}][{names[i].name}->{names[k].name}]", t, i, 0.0, 1.0, integer=False)
        self.free_cols.append((f, t, i, k))
        if rk is not None:
            self.add_row([(f, 1.0), (rk, -1.0)], -np.inf, 0.0)
        for c in blockers:
            self.add_row([(f, 1.0), (c, 1.0)], -np.inf, 1.0)
        return f

    def memory(self) -> None:
        """RAM in use after each compute of each stage stays within the activation budget.

        ``U[t,0] = R[t,0] m_0 + sum SR[t,i] m_i`` and
        ``U[t,k] = U[t,k-1] + R[t,k] m_k - sum_{(i,k-1)} m_i FREE[t,(i,k-1)]``: a node's dead inputs are
        released only after it has been computed, so each ``U[t,k]`` includes the node's output *and*
        its inputs (the working set of the step). A ``U`` column exists only where a compute can
        raise the level; frees in between are carried to the next one (the level only falls there).
        """
        n, m = self.n, self.m
        budget = self.p.activation_budget_bytes
        in_edges: list[list[int]] = [[] for _ in range(n)]
        for u, v in self.p.graph.edges:
            in_edges[v].append(u)
        names = self.p.graph.nodes
        for t in range(n):
            level_terms: list[tuple[int, float]] = []
            level_const = 0.0
            r0 = self.col(Family.COMPUTE, t, 0) if t > 0 else None
            if r0 is None:
                level_const += m[0]
            elif r0 >= 0:
                level_terms.append((r0, m[0]))
            for i in range(t):
                c = self.col(Family.RESIDENT, t, i)
                if c >= 0:
                    level_terms.append((c, m[i]))
            prev = self.add_col(f"U[{t}][{names[0].name}]", t, -1, 0.0, budget, integer=False)
            self.level_rows.append((prev, len(self.row_lo)))
            self.add_row([(prev, 1.0)] + [(c, -v) for c, v in level_terms], level_const, level_const)
            pending: list[tuple[int, float]] = []  # frees since prev, as (column, bytes)
            pending_const = 0.0
            for k in range(1, t + 1):
                for i in in_edges[k - 1]:
                    f = self.free_column(t, i, k - 1)
                    if f is None:
                        continue
                    if f < 0:
                        pending_const -= m[i]
                    else:
                        pending.append((f, m[i]))
                rk = self.col(Family.COMPUTE, t, k) if k < t else None
                if k < t and rk < 0:
                    continue
                terms: list[tuple[int, float]] = [(prev, -1.0), *pending]
                const = pending_const
                if rk is None:
                    const += m[k]
                else:
                    terms.append((rk, -m[k]))
                cur = self.add_col(f"U[{t}][{names[k].name}]", t, -1, 0.0, budget, integer=False)
                self.level_rows.append((cur, len(self.row_lo)))
                self.add_row([(cur, 1.0), *terms], const, const)
                prev, pending, pending_const = cur, [], 0.0

    def runtime(self) -> None:
        """Total compute time (plus paging time, if switched on) within the runtime budget."""
        p = self.p
        scale = RUNTIME_UNITS / _unit(p.plain_runtime_s, p.costs.pagein_s)
        terms: list[tuple[int, float]] = []
        per_family = [(Family.COMPUTE, p.costs.runtime_s)]
        if p.switches.count_paging_time:
            per_family += [(Family.PAGE_IN, p.costs.pagein_s), (Family.PAGE_OUT, p.costs.pageout_s)]
        for fam, secs in per_family:
            idx = self.index.get(fam)
            if idx is None:
                continue
            ts, is_ = np.nonzero(idx >= 0)
            coef = np.asarray(secs)[is_] * scale
            terms.extend((int(c), float(v)) for c, v in zip(idx[ts, is_], coef, strict=True) if v > 0)
        # Every R[t,t] = 1 spends the plain pass (RUNTIME_UNITS), the rest of the budget is left. Written
        # so, not as ``budget * scale - plain * scale``, whose rounding left an empty row at factor 1.0
        # with the bound -1e-10 that no plan meets; a pass taking no time has a budget of 0 s.
        slack = (p.runtime_factor - 1.0) * RUNTIME_UNITS if p.plain_runtime_s > 0 else 0.0
        self.add_row(terms, -np.inf, slack)

    def finish(self, started: float) -> MilpModel:
        self.flush_single()
        values = np.asarray(self.rows_v, dtype=float)
        costs = np.concatenate(self.cost) if self.cost else np.zeros(0)
        if not (np.isfinite(values).all() and np.isfinite(costs).all()):
            raise SolveError(
                f"{self.p.profile.source or self.p.profile.key}: the device figures make some costs too large or "
                "too small to represent (check flop_per_s, flop_per_j and the storage figures)"
            )
        rows = np.asarray(self.rows_r, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        counts = np.bincount(rows, minlength=len(self.row_lo))
        row_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        offset = float(np.asarray(self.p.costs.compute_j).sum()) * self.energy_scale
        return MilpModel(
            problem=self.p,
            cost=costs,
            col_lower=np.concatenate(self.lower) if self.lower else np.zeros(0),
            col_upper=np.concatenate(self.upper) if self.upper else np.zeros(0),
            is_integer=np.concatenate(self.integer) if self.integer else np.zeros(0, dtype=bool),
            row_start=row_start,
            col_index=np.asarray(self.rows_c, dtype=np.int64)[order],
            value=values[order],
            row_lower=np.asarray(self.row_lo, dtype=float),
            row_upper=np.asarray(self.row_hi, dtype=float),
            index=self.index,
            col_names=tuple(self.names),
            objective_offset=offset,
            objective_scale=self.energy_scale,
            build_s=time.perf_counter() - started,
            col_stage=np.concatenate(self.stages) if self.stages else np.zeros(0, dtype=np.int64),
            col_node=np.concatenate(self.nodes) if self.nodes else np.zeros(0, dtype=np.int64),
            free_cols=tuple(self.free_cols),
            level_rows=tuple(self.level_rows),
        )


def build_model(problem: Problem) -> MilpModel:
    """Build the exact, frontier-reduced MILP of ``problem``."""
    started = time.perf_counter()
    # Extreme device figures can overflow the scaling; finish() refuses the result with a message.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _build(problem, started)


def _build(problem: Problem, started: float) -> MilpModel:
    b = _Builder(problem)
    b.build_columns()
    b.inputs_present()
    b.persistence()
    b.paging_sources()
    b.memory()
    b.runtime()
    return b.finish(started)
