"""Heuristic strategies: valid plans in milliseconds, for graphs too big for the MILP or as a first
answer while it runs.

- ``keep_all``: the plain schedule; the answer (at plain energy, the floor) whenever it fits.
- ``page_after_use``: pages the largest tensors that wait between uses; needs paging.
- ``checkpoint_segments``: Chen et al.'s every-k-th checkpointing; needs recomputation.
- ``greedy``: evicts, at the fullest stage, whatever frees bytes for the fewest joules, by paging or
  recomputation; usually the cheapest of the first four.
- ``greedy_chains_batched`` and ``greedy_chains``: the same, where a recompute also recomputes the
  inputs that died before it; on the microcontroller profiles often far cheaper on autodiff graphs,
  where greedy has to page. The batched one measures fewer layouts and takes dearer evictions.

Every strategy is ``solve(problem, *, cancel=None, on_progress=None) -> Plan`` and is registered in
:data:`STRATEGIES`. A plan with a schedule has status FEASIBLE (never OPTIMAL: a heuristic proves no
bound, so ``bound_j`` is None), ``energy_j`` recomputed from its decisions, and has been replayed by the
simulator within both budgets. Its RAM is also within the MILP's accounting (FORMULATION §4.5), which
counts a tensor waiting to be paged out for its whole stage where the simulator frees it at once.

A strategy that finds no such schedule returns a plan with status INFEASIBLE, no decisions and the
message ``"<strategy> found no schedule within the budgets: <why>"``. **INFEASIBLE from a heuristic
means "this heuristic found none"**, not that none exists: only the MILP proves that. A set ``cancel``
event makes a strategy (and :func:`best_heuristic_plan`) raise :class:`~poet_gui.core.errors.SolveCancelled`;
``on_progress`` receives a :class:`~poet_gui.core.solve.milp.Progress` with the plan's energy once one is found.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from poet_gui.core.errors import SolveCancelled
from poet_gui.core.schedule.plan import Plan
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.heuristics import checkpoint_segments, greedy, greedy_chains, keep_all, page_after_use
from poet_gui.core.solve.heuristics._build import check_cancel
from poet_gui.core.solve.milp import ProgressCallback


class Strategy(StrEnum):
    """The heuristic strategies; each value is the ``strategy`` name its plans carry."""

    KEEP_ALL = "keep_all"
    PAGE_AFTER_USE = "page_after_use"
    CHECKPOINT_SEGMENTS = "checkpoint_segments"
    GREEDY = "greedy"
    GREEDY_CHAINS_BATCHED = "greedy_chains_batched"
    GREEDY_CHAINS = "greedy_chains"


class SolveFunction(Protocol):
    """The one signature every strategy has (STYLE §3)."""

    def __call__(
        self,
        problem: Problem,
        *,
        cancel: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Plan: ...


STRATEGIES: Mapping[Strategy, SolveFunction] = MappingProxyType(
    {
        Strategy.KEEP_ALL: keep_all.solve,
        Strategy.PAGE_AFTER_USE: page_after_use.solve,
        Strategy.CHECKPOINT_SEGMENTS: checkpoint_segments.solve,
        Strategy.GREEDY: greedy.solve,
        Strategy.GREEDY_CHAINS_BATCHED: greedy_chains.solve_batched,
        Strategy.GREEDY_CHAINS: greedy_chains.solve,
    }
)


class _Stop(threading.Event):
    """Set once the caller's ``cancel`` is set or ``deadline`` (a ``perf_counter`` time) has passed:
    what the strategies poll, so a strategy that runs long is stopped like a cancelled one."""

    def __init__(self, cancel: threading.Event | None, deadline: float | None) -> None:
        super().__init__()
        self._cancel, self._deadline = cancel, deadline

    def is_set(self) -> bool:
        return (
            super().is_set()
            or (self._cancel is not None and self._cancel.is_set())
            or (self._deadline is not None and time.perf_counter() >= self._deadline)
        )


def best_heuristic_plan(
    problem: Problem,
    *,
    cancel: threading.Event | None = None,
    time_limit_s: float | None = None,
    on_better: Callable[[Plan], None] | None = None,
) -> Plan | None:
    """The cheapest valid plan of all strategies (``energy_j`` set), or None if none found one.

    The strategies run fastest first; ``on_better`` receives each plan cheaper than those before
    it, so a caller can show the first within milliseconds while the slower strategies run. Once
    ``time_limit_s`` has passed, the strategy running is stopped and the best plan so far returned:
    on a big graph with a tight budget :mod:`greedy_chains` can take seconds, which come out of the
    solver's time. ``cancel`` is checked before each strategy (and inside them); once set, this
    raises :class:`~poet_gui.core.errors.SolveCancelled`.
    """
    deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s
    stop = _Stop(cancel, deadline)
    best: Plan | None = None
    for strategy, solve in STRATEGIES.items():
        check_cancel(cancel, strategy.value)
        try:
            plan = solve(problem, cancel=stop)
        except SolveCancelled:
            if cancel is not None and cancel.is_set():
                raise
            break  # out of time: keep what the faster strategies found
        if plan.decisions is not None and (best is None or plan.energy_j < best.energy_j):
            best = plan
            if on_better is not None:
                on_better(plan)
    return best
