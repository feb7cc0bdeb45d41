"""A lower bound on every plan's energy from the tensors the RAM budget forces out of RAM.

Why: the MILP's LP relaxation is weak on this problem. A RAM row is a knapsack over "keep tensor
``i`` in RAM" binaries, and the LP keeps a fraction of a tensor to fit the budget by a few bytes; on
linear / m4 at 50 % of the plain peak the root LP captures 8 % of the optimum's extra energy, and
HiGHS spends seconds in cut rounds and branching closing the rest. The bound below captures the
knapsack's integrality directly, on a problem small enough to solve exactly in milliseconds.

The argument (FORMULATION §4). While node ``t`` is computed in its own stage (the *moment* ``t``),
RAM holds ``t``'s output and all its inputs (§4.5 frees an input only after the next compute) and
every other tensor that is in RAM then. Call a tensor ``i`` *crossing* moment ``t`` if it was produced
before ``t``, is not an input of ``t`` and is read by a node after ``t``; ``i``'s readers cut its
crossing moments into *segments*. A crossing tensor that is out of RAM at a moment must come back
before the segment's next reader runs: recomputed (at least its compute energy and time) or paged in
after a page-out (the page-in once per segment, the page-out once). Returns in different segments
are different events, so each segment a tensor is out in costs a return of its own. At every moment
over budget, the tensors out of RAM must cover the moment's excess ``m_t + sum(inputs) +
sum(crossing) - budget`` in bytes, and the returns' times together fit the runtime budget's slack
over the plain pass.

Fan-out (residual adds, attention) adds a second effect the chain models of the zoo hide: a tensor
brought back by recomputation needs its inputs in RAM when it is recomputed. If an input ``j`` was
already dead (past its last reader) at the first moment of the segment that needs the return, ``j``
was either kept in RAM past its life, and so holds its bytes at every moment over budget since its
last reader (it then adds to those moments' excess), or it comes back itself after its life: paged,
or recomputed, which in turn needs *its* dead inputs. On a transformer on m4 this is what the
optimum pays: a Transpose costs almost nothing to recompute, but its input, a MatMul's output, died
long before, so the cheap way back is not cheap.

The cheapest choice (a small 0/1 program: a column per tensor, segment and way back, per dead tensor
and moment it is kept, per tensor brought back after its life; one covering row per moment over
budget; one runtime row) plus the plain pass's energy is a lower bound on every plan. HiGHS's dual
bound is used, so a search stopped by its time limit still gives a valid bound.

Measured (benchmarks/RESULTS.md): on every linear and transformer case of the benchmark it equals
the proven optimum; benchmarks/REAL.md measures it on imported graphs.
"""

from __future__ import annotations

import bisect
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
    back); ``free_return``: tensors that come back at no cost (0-FLOP nodes such as inputs,
    recomputed), which any plan may drop without paying for it."""

    energy_j: float
    evicted: tuple[int, ...]
    free_return: tuple[int, ...]


def eviction_bound(
    problem: Problem, *, time_limit_s: float, threads: int, per_moment: bool = False
) -> EvictionBound | None:
    """The bound, or None when no cover exists (some moment cannot fit whatever is dropped: the
    MILP then proves infeasibility itself) or HiGHS proved no bound in ``time_limit_s``.

    ``per_moment`` decides, for every moment, which tensors are out of RAM, instead of taking a tensor
    out for the whole segment that needs it: a stronger bound (a tensor brought back early holds RAM at
    the moments after), from a larger program. Measured: milliseconds to tens of them for the segment
    form on every zoo and real-graph case; about a second for the per-moment form on the zoo's CNNs,
    where it rarely adds anything, and on imported transformers, residual MLPs and CNNs on m4 it
    raises the bound by up to 12 % of the plain pass (benchmarks/REAL.md)."""
    plain = problem.plain_energy_j
    free_return = tuple(
        i for i in range(len(problem.graph)) if problem.switches.remat and problem.costs.compute_j[i] == 0.0
    )
    moments = _moments_over_budget(problem)
    if not moments:
        return EvictionBound(plain, (), free_return)
    cover = _Cover(problem, _busiest(moments) if per_moment else moments, per_moment=per_moment)
    if not cover.build():
        return None
    milp = cover.milp()
    h = configured_highs(milp, time_limit_s=time_limit_s, rel_gap=_COVER_GAP, threads=threads)
    h.run()
    dual = h.getInfo().mip_dual_bound
    if not np.isfinite(dual) or not has_solution(h):
        return None
    chosen = np.asarray(h.getSolution().col_value) > 0.5
    evicted = tuple(sorted({cover.returned[j] for j in np.flatnonzero(chosen) if cover.returned[j] >= 0}))
    return EvictionBound(plain + max(0.0, dual) / cover.scale, evicted, free_return)


@dataclass(frozen=True, slots=True)
class _Moment:
    """A moment over budget: stage ``t``, the tensors crossing it, and the bytes that must be out."""

    t: int
    crossing: tuple[int, ...]
    excess: float


def _moments_over_budget(problem: Problem) -> list[_Moment]:
    """Every moment over budget even with only the crossing tensors besides its working set."""
    graph = problem.graph
    m = np.asarray(problem.costs.ram_bytes, dtype=float)
    last = np.asarray(graph.last_use)
    budget = problem.activation_budget_bytes
    moments = []
    for t, node in enumerate(graph.nodes):
        inputs = set(node.inputs)
        crossing = tuple(i for i in range(t) if last[i] > t and i not in inputs)
        excess = m[t] + m[list(inputs)].sum() + m[list(crossing)].sum() - budget
        if excess > 0:
            moments.append(_Moment(t, crossing, float(excess)))
    return moments


#: Most "out of RAM" columns the cover gets. The argument holds for any set of moments over budget, so
#: on a large graph the bound keeps the moments of the largest excess up to this size: measured on a
#: 219-node MobileNet-like graph (m4), the cover of all 201 moments (6,271 such columns) needs 1.3 s
#: for its LP alone, where a 1 s limit then leaves the bound at the plain pass's energy.
MAX_OUT_COLUMNS = 3000


def _busiest(moments: list[_Moment]) -> list[_Moment]:
    """The moments of the largest excess, as many as :data:`MAX_OUT_COLUMNS` allows, in stage order."""
    chosen, size = [], 0
    for mo in sorted(moments, key=lambda mo: -mo.excess):
        size += len(mo.crossing)
        if size > MAX_OUT_COLUMNS and chosen:
            break
        chosen.append(mo)
    return sorted(chosen, key=lambda mo: mo.t)


def _runtime_slack_s(problem: Problem) -> float:
    """Runtime the budget leaves beyond the plain pass (what recomputation, and paging if it is
    charged, may spend), with the model's own float allowance so the bound is never stricter."""
    plain = problem.plain_runtime_s
    return max(0.0, (problem.runtime_factor - 1.0) * plain) + 1e-9 * problem.runtime_factor * plain


class _Cover:
    """The covering program's columns and rows, added as the argument of the module docstring needs
    them: per moment over budget, which crossing tensors are out of RAM; a return after each moment a
    tensor is out and not at the next one; and for each recomputation, the inputs it needs (kept in
    RAM, or brought back, and so on down the graph)."""

    def __init__(self, problem: Problem, moments: list[_Moment], *, per_moment: bool) -> None:
        self.problem = problem
        self.per_moment = per_moment
        costs, switches = problem.costs, problem.switches
        self.m = np.asarray(costs.ram_bytes, dtype=float)
        self.last = np.asarray(problem.graph.last_use)
        self.moments = moments
        self.stages = [mo.t for mo in moments]  # ascending
        self.slack = _runtime_slack_s(problem)
        paging_s = costs.pagein_s + costs.pageout_s if switches.count_paging_time else np.zeros(len(self.m))
        self.can_recompute = switches.remat & (np.asarray(costs.runtime_s) <= self.slack)
        self.can_page = switches.paging & (np.asarray(paging_s) <= self.slack)
        self._readers = [tuple(r for r in succ if r > i) for i, succ in enumerate(problem.graph.successors)]
        # Columns: energy, runtime, and the tensor a chosen column brings back (-1: none).
        self.energy: list[float] = []
        self.time: list[float] = []
        self.returned: list[int] = []
        self.cover_terms: list[list[tuple[int, float]]] = [[] for _ in moments]  # bytes out of RAM, per moment
        self.rows: list[tuple[list[tuple[int, float]], float, float]] = []
        self._out: dict[tuple[int, int], int] = {}  # (tensor, moment's index): "out of RAM at that moment"
        self._returns: dict[tuple[int, int], list[int]] = {}  # a return after that moment
        self._after_life: dict[int, list[int]] = {}
        self._page_out: dict[int, int] = {}
        self._kept: dict[int, dict[int, int]] = {}
        self._pending: list[tuple[int, int, int, int | None]] = []  # recomputations whose inputs are open
        self.scale = 1.0

    def build(self) -> bool:
        """Add every column and row; False when some moment cannot be covered whatever leaves RAM."""
        first_in_segment: dict[tuple[int, int], int] = {}
        for r, mo in enumerate(self.moments):
            if sum(self.m[i] for i in mo.crossing if self.can_recompute[i] or self.can_page[i]) < mo.excess:
                return False
            for i in mo.crossing:
                if self.can_recompute[i] or self.can_page[i]:
                    segment = (i, bisect.bisect_left(self._readers[i], mo.t))
                    key = (i, r) if self.per_moment else (i, first_in_segment.setdefault(segment, r))
                    if key not in self._out:
                        self._out[key] = self._column(0.0, 0.0, -1)
                    self.cover_terms[r].append((self._out[key], self.m[i]))
        for (i, r), col in self._out.items():
            # Out at this moment and not at the next one of the same segment (or none follows), or out
            # somewhere in the segment: a return happens after it. Returns after different moments (or
            # in different segments) are different events.
            self._returns[i, r] = ways = self._ways_back(i, self.stages[r], r if self.per_moment else None)
            terms = [(col, -1.0), *((c, 1.0) for c in ways)]
            if self.per_moment and self._next_in_segment(i, r) and (i, r + 1) in self._out:
                terms.append((self._out[i, r + 1], 1.0))
            self.rows.append((terms, 0.0, np.inf))
        while self._pending:
            self._needs_inputs(*self._pending.pop())
        return True

    def _column(self, energy_j: float, time_s: float, tensor: int) -> int:
        self.energy.append(energy_j)
        self.time.append(time_s)
        self.returned.append(tensor)
        return len(self.energy) - 1

    def _next_reader(self, i: int, t: int) -> int:
        readers = self._readers[i]
        return readers[bisect.bisect_left(readers, t)]

    def _next_in_segment(self, i: int, r: int) -> bool:
        """Whether the next moment over budget comes before ``i``'s next reader."""
        return r + 1 < len(self.stages) and self.stages[r + 1] < self._next_reader(i, self.stages[r])

    def _window_end(self, i: int, r: int) -> int:
        """The stage by which ``i``, out at moment ``r``, has come back if that return is counted at ``r``."""
        return self.stages[r + 1] if self._next_in_segment(i, r) else self._next_reader(i, self.stages[r])

    def _ways_back(self, i: int, moment: int, r: int | None) -> list[int]:
        """New columns for the ways ``i`` can come back once after ``moment`` (moment index ``r``, or None
        for a return after its life): recomputed, whose inputs are then queued, or paged in, which needs
        a page-out."""
        costs, counted = self.problem.costs, self.problem.switches.count_paging_time
        ways = []
        if self.can_recompute[i]:
            col = self._column(float(costs.compute_j[i]), float(costs.runtime_s[i]), i)
            self._pending.append((col, i, moment, r))
            ways.append(col)
        if self.can_page[i]:
            col = self._column(float(costs.pagein_j[i]), float(costs.pagein_s[i]) * counted, i)
            if i not in self._page_out:
                self._page_out[i] = self._column(float(costs.pageout_j[i]), float(costs.pageout_s[i]) * counted, i)
            self.rows.append(([(col, 1.0), (self._page_out[i], -1.0)], -np.inf, 0.0))
            ways.append(col)
        return ways

    def _needs_inputs(self, col: int, i: int, moment: int, r: int | None) -> None:
        """Column ``col`` recomputes ``i`` after ``moment``, its inputs in RAM. An input dead by then was
        kept in RAM through the latest moment over budget since its own last reader, or comes back after
        its life. An input out of RAM at moment ``r`` whose own return window holds ``i``'s comes back
        in it (a return of its own, with its own cost), unless it is back there anyway."""
        for j in self.problem.graph.nodes[i].inputs:
            if self.last[j] <= moment:
                kept_at = self._latest_moment_in(int(self.last[j]), moment)
                if kept_at is not None:  # else no moment over budget holds it: keeping it costs nothing here
                    terms = [(col, 1.0), (self._kept_column(j, kept_at), -1.0)]
                    terms.extend((c, -1.0) for c in self._after_life_columns(j))
                    self.rows.append((terms, -np.inf, 0.0))
            elif r is not None and (j, r) in self._out and self._window_end(i, r) <= self._window_end(j, r):
                terms = [(col, 1.0), (self._out[j, r], 1.0), *((c, -1.0) for c in self._returns[j, r])]
                self.rows.append((terms, -np.inf, 1.0))

    def _latest_moment_in(self, after: int, upto: int) -> int | None:
        """The latest moment over budget in (after, upto]."""
        k = bisect.bisect_right(self.stages, upto) - 1
        return self.stages[k] if k >= 0 and self.stages[k] > after else None

    def _after_life_columns(self, j: int) -> list[int]:
        """The ways ``j`` can come back after its last reader (created once)."""
        if j not in self._after_life:
            self._after_life[j] = self._ways_back(j, int(self.last[j]), None)
        return self._after_life[j]

    def _kept_column(self, j: int, t: int) -> int:
        """"Dead ``j`` is in RAM at moment ``t``": its bytes add to that moment's excess. Created with
        one for every earlier moment over budget since its last reader, chained so that, unless ``j``
        came back after its life, being in RAM at one moment means it was in RAM at the one before."""
        kept = self._kept.setdefault(j, {})
        if t not in kept:
            back = self._after_life_columns(j)
            first = bisect.bisect_right(self.stages, int(self.last[j]))
            previous = None
            for r in range(first, self.stages.index(t) + 1):
                stage = self.stages[r]
                if stage not in kept:
                    kept[stage] = self._column(0.0, 0.0, -1)
                    self.cover_terms[r].append((kept[stage], -self.m[j]))
                    if previous is not None:
                        terms = [(previous, 1.0), (kept[stage], -1.0), *((c, 1.0) for c in back)]
                        self.rows.append((terms, 0.0, np.inf))
                previous = kept[stage]
        return kept[t]

    def milp(self) -> SparseMilp:
        """The program in HiGHS's form: costs scaled to at most 1, covering rows as "bytes out /
        excess >= 1" (entries near 1), the runtime row as a share of the slack."""
        n = len(self.energy)
        rows = [([(c, v / mo.excess) for c, v in terms], 1.0, np.inf)
                for terms, mo in zip(self.cover_terms, self.moments, strict=True)]  # fmt: skip
        rows.extend(self.rows)
        timed = [(c, t / self.slack) for c, t in enumerate(self.time) if t > 0]
        if timed:
            rows.append((timed, -np.inf, 1.0))
        energy = np.asarray(self.energy, dtype=float)
        self.scale = 1.0 / max(float(energy.max(initial=0.0)), np.finfo(float).tiny)
        starts, index, value = [0], [], []
        for terms, _, _ in rows:
            index.extend(c for c, _ in terms)
            value.extend(v for _, v in terms)
            starts.append(len(index))
        return SparseMilp(
            cost=energy * self.scale,
            col_lower=np.zeros(n),
            col_upper=np.ones(n),
            is_integer=np.ones(n, dtype=bool),
            row_start=np.asarray(starts, dtype=np.int64),
            col_index=np.asarray(index, dtype=np.int64),
            value=np.asarray(value, dtype=float),
            row_lower=np.asarray([lo for _, lo, _ in rows], dtype=float),
            row_upper=np.asarray([hi for _, _, hi in rows], dtype=float),
            objective_offset=0.0,
        )


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
