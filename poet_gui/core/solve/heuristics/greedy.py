"""Energy-aware eviction: start from the plain schedule and, while some stage is over the RAM budget,
evict the tensors that free bytes there for the fewest joules.

At the stage ``t`` with the highest RAM level, every tensor kept there for a later stage ``a`` (idle
through ``t``, or read in ``t`` and held past that read) is a candidate with two ways to leave: paging
(a page-in, plus the page-out unless the tensor is already in storage) or recomputing it in stage ``a``
(its compute energy and time). The cheapest per byte go first, so cheap activations (ReLU, batch norm)
are recomputed, costly convolutions paged, and big tensors leave before small ones of the same kind.

A recompute in stage ``a`` reads the tensor's inputs there. An input already in RAM (or recomputed, or
free to recompute) in ``a`` costs nothing more. One that is itself recomputed later is recomputed in
``a`` instead, as in checkpointing: this chain is followed, and priced when it adds a recompute. Any
other input would have to stay in RAM longer, which could undo the eviction, so such a recompute is
not offered (:mod:`greedy_chains` recomputes it too, where nothing reads it later); nor one the
runtime budget has no room for.

A recompute also holds its inputs within stage ``a``, so stage ``a`` can end up over the budget with
nothing idle; then turning such a recompute into a page-in is a candidate (its extra joules per byte).
Candidates are taken cheapest first until stage ``t`` would fit, then the levels are measured again.
If that does not lower stage ``t`` only the cheapest is tried, and if even that fails it is not
offered again. Every kept round adds or changes an eviction record, so the search ends.

Evictions are recorded per tensor and stage, so when a later recompute splits a tensor's gap in two,
only the part holding the recorded stage stays evicted, and the other part is judged afresh.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from poet_gui.core.schedule.plan import Plan
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.heuristics._build import (
    Gap,
    Layout,
    Levels,
    build_layout,
    check_cancel,
    finish,
    fits,
    free_nodes,
    measure,
    no_plan,
    out_of_reach,
    runtime_allowance_s,
    shortfall,
    to_decisions,
)
from poet_gui.core.solve.milp import ProgressCallback

NAME = "greedy"

#: An eviction record: (tensor, stage, action); the action applies to the tensor's gap holding the stage.
_Record = tuple[int, int, Gap]


@dataclass(frozen=True, slots=True)
class _Eviction:
    """Records to apply, the first being the eviction itself (the others move chained recomputes),
    costing ``joules`` and ``seconds`` more (as charged to the runtime budget) and freeing about
    ``freed`` bytes at the target stage."""

    records: tuple[_Record, ...]
    joules: float
    seconds: float
    freed: float
    is_switch: bool = False

    @property
    def node(self) -> int:
        return self.records[0][0]

    @property
    def action(self) -> Gap:
        return self.records[0][2]


def solve(
    problem: Problem, *, cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None
) -> Plan:
    """Evict the cheapest-per-byte idle tensors at the fullest stage until everything fits."""
    return search(problem, NAME, cancel=cancel, on_progress=on_progress)


def search(
    problem: Problem,
    name: str,
    *,
    cancel: threading.Event | None,
    on_progress: ProgressCallback | None,
    recompute_dead: bool = False,
    batch_past_conflicts: bool = False,
) -> Plan:
    """The eviction loop (module docstring) for the strategy ``name``.

    ``recompute_dead`` lets a recompute also recompute the inputs that nothing reads after it (see
    :meth:`_Search.chain`); ``batch_past_conflicts`` lets a round's batch skip an offer that touches
    a tensor the batch already moves, instead of ending there (see :func:`_batch`)."""
    started = time.perf_counter()
    if why := out_of_reach(problem):
        return no_plan(problem, name, started, why)
    search = _Search(problem, recompute_dead, batch_past_conflicts)
    while not fits(problem, search.levels):
        check_cancel(cancel, name)
        t, level = search.levels.worst_stage()
        if level <= problem.activation_budget_bytes or not search.lower(t, level):
            break  # over the runtime budget (which evicting cannot fix), or nothing left to evict
    if fits(problem, search.levels):
        return finish(problem, name, to_decisions(len(problem.graph), search.layout), started, on_progress)
    return no_plan(problem, name, started, shortfall(problem, search.levels))


class _Search:
    """The evictions so far, the layout they give and its levels."""

    def __init__(self, problem: Problem, recompute_dead: bool, batch_past_conflicts: bool) -> None:
        self.problem = problem
        self.recompute_dead = recompute_dead
        self.batch_past_conflicts = batch_past_conflicts
        self.free = free_nodes(problem)
        self.evicted: list[dict[int, Gap]] = [{} for _ in problem.graph.nodes]
        self.banned: set[_Record] = set()
        self.layout: Layout = build_layout(problem, self.rule)
        self.levels: Levels = measure(problem, self.layout)

    def rule(self, i: int, b: int, a: int) -> Gap:
        return next((act for t, act in self.evicted[i].items() if b < t < a), Gap.KEEP)

    def lower(self, t: int, level: float) -> bool:
        """Lower stage ``t`` (now at ``level`` bytes) by one round of evictions; False if none is left."""
        room_s = runtime_allowance_s(self.problem) - self.levels.runtime_s
        offers = [e for e in self.offers(t) if e.records[0] not in self.banned and e.seconds <= room_s]
        if not offers:
            return False
        excess = level - self.problem.activation_budget_bytes
        batch = _batch(self.problem, offers, excess, room_s, past_conflicts=self.batch_past_conflicts)
        if not (len(batch) > 1 and self.attempt(batch, t, level)) and not self.attempt(offers[:1], t, level):
            self.banned.add(offers[0].records[0])
        return True

    def attempt(self, batch: list[_Eviction], t: int, level: float) -> bool:
        """Apply ``batch``; keep it if stage ``t`` is lower and the runtime fits, else undo it.

        A lone switch from recompute to page-in is kept if stage ``t`` is no higher: what it frees are
        the recompute's inputs, which the next round can then evict.
        """
        undo = [(i, s, self.evicted[i].get(s)) for e in batch for i, s, _ in e.records]
        for e in batch:
            for i, s, action in e.records:
                self.evicted[i][s] = action
        layout = build_layout(self.problem, self.rule)
        levels = measure(self.problem, layout)
        now = max(levels.start[t], levels.peak[t])
        is_lower = now < level or (now <= level and len(batch) == 1 and batch[0].is_switch)
        if is_lower and levels.runtime_s <= runtime_allowance_s(self.problem):
            self.layout, self.levels = layout, levels
            return True
        for i, s, before in reversed(undo):
            if before is None:
                del self.evicted[i][s]
            else:
                self.evicted[i][s] = before
        return False

    def offers(self, t: int) -> list[_Eviction]:
        """Every eviction that lowers stage ``t``, cheapest per byte first (module docstring)."""
        p, layout = self.problem, self.layout
        sw, c = p.switches, p.costs
        charge_paging = 1.0 if sw.count_paging_time else 0.0
        offers: list[_Eviction] = []
        for i, gaps in enumerate(layout.gaps):
            m = float(c.ram_bytes[i])
            page_j = c.pagein_j[i] + (0.0 if layout.page_in[i] else c.pageout_j[i])
            page_s = charge_paging * (c.pagein_s[i] + (0.0 if layout.page_in[i] else c.pageout_s[i]))
            for b, a, act in gaps:
                # Idle through stage t, or read in t and held past its last read there.
                if act is Gap.KEEP and ((b < t < a and t >= i + 2) or (b == t > i)):
                    stage = t if b < t else t + 1  # the record must lie inside the gap
                    if sw.paging and a >= i + 3:
                        offers.append(_Eviction(((i, stage, Gap.PAGE),), page_j, page_s, m))
                    chain = self.chain(i, a) if sw.remat else None
                    if chain is not None:
                        joules, seconds, moves = chain
                        offers.append(
                            _Eviction(
                                ((i, stage, Gap.REMAT), *moves), c.compute_j[i] + joules, c.runtime_s[i] + seconds, m
                            )
                        )
                elif act is Gap.REMAT and a == t and sw.paging and a >= i + 3:
                    stage = next(s for s in self.evicted[i] if b < s < a)
                    offers.append(
                        _Eviction(
                            ((i, stage, Gap.PAGE),), page_j - c.compute_j[i], page_s - c.runtime_s[i], m, is_switch=True
                        )
                    )
        return sorted(offers, key=lambda e: (e.joules / e.freed, -e.freed, e.records[0]))

    def chain(self, i: int, a: int, seen: set[int] | None = None) -> tuple[float, float, list[_Record]] | None:
        """What recomputing ``i`` in stage ``a`` costs beyond ``i`` itself: extra joules, seconds and
        the records that recompute its missing inputs there too; None if an input would have to stay.

        A missing input ``u`` recomputed in a later stage ``a_u`` of the same gap is recomputed in ``a``
        as well. If its record lies before ``a`` it then stays in RAM from ``a`` to ``a_u`` for free,
        when the levels of those stages have room for it; otherwise (or if its record lies after ``a``)
        it is recomputed in both stages, at the price of one more recompute. With ``recompute_dead``,
        a missing input that nothing reads after ``a`` is recomputed in ``a`` too, from its own
        inputs (:mod:`greedy_chains` says why). ``seen`` holds the inputs already priced for this
        recompute, so a diamond (a residual block) is priced once, not once per path.
        """
        p, layout = self.problem, self.layout
        c = p.costs
        seen = set() if seen is None else seen
        joules = seconds = 0.0
        moves: list[_Record] = []
        for u in p.graph.nodes[i].inputs:
            if u in seen or self.free[u] or layout.is_available(u, a):
                continue
            seen.add(u)
            gap = next(((b, e, act) for b, e, act in layout.gaps[u] if b < a < e), None)
            if gap is None:  # nothing reads u after a: its new gap, from its last need, would end at a
                if not self.recompute_dead:
                    return None
                if self.last_need(u, a) < a - 1:
                    moves.append((u, a - 1, Gap.REMAT))
                joules, seconds = joules + c.compute_j[u], seconds + c.runtime_s[u]
            else:
                b, e, act = gap
                if act is not Gap.REMAT or b + 1 >= a:
                    return None
                if next(s for s in self.evicted[u] if b < s < e) > a:
                    moves.append((u, a - 1, Gap.REMAT))
                    joules, seconds = joules + c.compute_j[u], seconds + c.runtime_s[u]
                elif e > a + 1 and self.fullest(a, e) + c.ram_bytes[u] > p.activation_budget_bytes:
                    moves.append((u, a + 1, Gap.REMAT))
                    joules, seconds = joules + c.compute_j[u], seconds + c.runtime_s[u]
            deeper = self.chain(u, a, seen)
            if deeper is None:
                return None
            joules, seconds = joules + deeper[0], seconds + deeper[1]
            moves.extend(deeper[2])
        return joules, seconds, moves

    def last_need(self, u: int, a: int) -> int:
        """The last stage before ``a`` in which ``u`` is computed or held (its production at least)."""
        layout = self.layout
        held = [e for s, e in layout.resident[u] if e < a]
        computed = [t for t in range(u, a) if u in layout.computes[t]]
        return max(held + computed)

    def fullest(self, first: int, stop: int) -> float:
        """The highest level of stages ``first`` to ``stop - 1``."""
        return float(max(self.levels.start[first:stop].max(), self.levels.peak[first:stop].max()))


def _batch(
    problem: Problem, offers: list[_Eviction], excess: float, room_s: float, *, past_conflicts: bool = False
) -> list[_Eviction]:
    """The cheapest offers, one per tensor, until ``excess`` bytes would be freed within ``room_s``.

    Taking several at once only saves measuring between them, so the batch stops where the order
    could change: at an offer touching a tensor that an earlier one in the batch moves or reads (its
    price assumed otherwise), or at one the runtime left over cannot pay for. With
    ``past_conflicts`` it skips the conflicting offer and goes on: dearer choices, far fewer rounds.
    """
    chosen: list[_Eviction] = []
    touched: set[int] = set()
    for e in offers:
        if e.node in touched and e.node in {c.node for c in chosen}:
            continue  # a dearer way out for a tensor already leaving
        nodes = {i for i, _, _ in e.records}
        reads = set(problem.graph.nodes[e.node].inputs) if e.action is Gap.REMAT else set()
        if e.seconds > room_s:
            break
        if touched & (nodes | reads):
            if past_conflicts:
                continue
            break
        chosen.append(e)
        touched |= nodes | reads
        room_s -= e.seconds
        excess -= e.freed
        if excess <= 0:
            break
    return chosen
