"""Page out what waits: a tensor stays in RAM only while consecutive stages use it.

A paged tensor is written to storage in the stage after it is produced (the earliest stage it can be
resident in) and read back one stage before each later run of uses (a page-in lands in RAM from the
next stage on), for every gap it has. The input layer (any "free" tensor, see ``_build``) is read
again instead when recomputation is allowed: that costs nothing, writing it out costs a page-out.

Paging every tensor that waits gives the least RAM this strategy can reach, but pays for transfers
the budget may not require. So tensors are paged greedily by size: at the stage with the highest RAM
level, the largest tensors idle there are paged until that stage would fit, then the levels are
measured again. Big tensors first, because the cost of a transfer grows more slowly than its size (a
latency plus bytes over throughput), so joules per byte freed fall with size.
"""

from __future__ import annotations

import threading
import time

from poet_gui.core.schedule.plan import Plan
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.heuristics._build import (
    Gap,
    build_layout,
    check_cancel,
    finish,
    fits,
    measure,
    no_plan,
    out_of_reach,
    shortfall,
    to_decisions,
)
from poet_gui.core.solve.milp import ProgressCallback

NAME = "page_after_use"


def solve(
    problem: Problem, *, cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None
) -> Plan:
    """Page the fewest, largest tensors that bring every stage within the RAM budget."""
    started = time.perf_counter()
    if why := out_of_reach(problem):
        return no_plan(problem, NAME, started, why)
    if not problem.switches.paging:
        return no_plan(problem, NAME, started, "it pages tensors out, and paging is switched off")
    m = problem.costs.ram_bytes
    budget = problem.activation_budget_bytes
    paged: set[int] = set()

    def rule(i: int, b: int, a: int) -> Gap:
        return Gap.PAGE if i in paged else Gap.KEEP

    while True:
        check_cancel(cancel, NAME)
        layout = build_layout(problem, rule)
        levels = measure(problem, layout)
        if fits(problem, levels):
            return finish(problem, NAME, to_decisions(len(problem.graph), layout), started, on_progress)
        t, level = levels.worst_stage()
        if level <= budget:
            break  # over the runtime budget: paging more only adds paging time
        idle = sorted(
            {
                i
                for i, gaps in enumerate(layout.gaps)
                for b, a, act in gaps
                if act is Gap.KEEP and _pages_out(i, b, a, t)
            },
            key=lambda i: (-m[i], i),
        )
        if not idle:
            break
        for i in idle:
            paged.add(i)
            level -= m[i]
            if level <= budget:
                break
    return no_plan(problem, NAME, started, shortfall(problem, levels))


def _pages_out(i: int, b: int, a: int, t: int) -> bool:
    """Whether paging ``i`` across the gap ``(b, a)`` takes it out of RAM for all of stage ``t``.

    Storage must hold the tensor one stage before it is read back (``a >= i + 3``); in stage ``i + 1``
    a tensor waiting to be written is still counted (see ``Levels``), so ``t >= i + 2``.
    """
    return b < t < a and t >= i + 2 and a >= i + 3
