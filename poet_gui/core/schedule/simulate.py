"""Replay an operation list and check it, independently of how it was produced.

The simulator knows nothing about the MILP: it walks the operations one by one with a set of
tensors in RAM and a set in storage, and refuses the first step that breaks a rule (an input not
in RAM, a read of storage never written, RAM over budget, a node never computed, the runtime
budget exceeded). It recomputes peak RAM, energy and runtime from the device costs, so a plan's
figures are never taken on the solver's word. Every plan the app shows or exports goes through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from poet_gui.core.errors import ScheduleError
from poet_gui.core.schedule.operations import Action, Operation
from poet_gui.core.schedule.problem import Problem

#: Slack for float sums of byte counts and seconds (byte counts are exact integers in float64).
_BYTES_SLACK = 1e-6
_RUNTIME_REL_SLACK = 1e-9


@dataclass(frozen=True)
class SimResult:
    """What replaying a schedule measured. ``ram_bytes[k]`` / ``time_s[k]``: after operation ``k``."""

    operations: tuple[Operation, ...]
    ram_bytes: np.ndarray
    time_s: np.ndarray
    budget_bytes: float
    peak_ram_bytes: float
    peak_index: int
    compute_j: float
    pagein_j: float
    pageout_j: float
    compute_s: float
    paging_s: float
    recomputes: int
    pageins: int
    pageouts: int

    @property
    def energy_j(self) -> float:
        return self.compute_j + self.pagein_j + self.pageout_j

    @property
    def runtime_s(self) -> float:
        """Compute time plus paging time: what the device actually spends."""
        return self.compute_s + self.paging_s


def simulate(problem: Problem, operations: Sequence[Operation], *, budget_bytes: float | None = None) -> SimResult:
    """Check ``operations`` against ``problem`` and measure it; raise :class:`ScheduleError` if invalid.

    ``budget_bytes`` overrides the problem's activation budget (``math.inf`` measures a schedule's
    peak without judging it, as for the plain schedule's reference figures).
    """
    g, c = problem.graph, problem.costs
    budget = problem.activation_budget_bytes if budget_bytes is None else budget_bytes
    m = np.asarray(c.ram_bytes, dtype=float)
    in_ram: set[int] = set()
    stored: set[int] = set()
    computed: set[int] = set()
    level = 0.0
    clock = 0.0
    ram_trace = np.empty(len(operations))
    time_trace = np.empty(len(operations))
    compute_j = pagein_j = pageout_j = compute_s = paging_s = 0.0
    recomputes = pageins = pageouts = 0
    peak, peak_index = 0.0, -1

    def fail(k: int, op: Operation, why: str) -> ScheduleError:
        node = g.nodes[op.node] if 0 <= op.node < len(g) else None
        what = f"{op.action.value} {node.name} ({node.op})" if node else f"{op.action.value} node {op.node}"
        return ScheduleError(f"step {k} (stage {op.stage}), {what}: {why}")

    for k, op in enumerate(operations):
        v = op.node
        if not 0 <= v < len(g):
            raise fail(k, op, "no such node in the graph")
        if op.action is Action.COMPUTE:
            missing = [g.nodes[u].name for u in g.nodes[v].inputs if u not in in_ram]
            if missing:
                raise fail(k, op, f"input {', '.join(missing)} is not in RAM")
            if v in in_ram:
                raise fail(k, op, "its output is already in RAM (a wasted recompute)")
            in_ram.add(v)
            level += m[v]
            recomputes += v in computed
            computed.add(v)
            compute_j += c.compute_j[v]
            compute_s += c.runtime_s[v]
            clock += c.runtime_s[v]
        elif op.action is Action.FREE:
            if v not in in_ram:
                raise fail(k, op, "the tensor is not in RAM")
            in_ram.discard(v)
            level -= m[v]
        elif op.action is Action.PAGE_OUT:
            if v not in in_ram:
                raise fail(k, op, "the tensor is not in RAM, so it cannot be written to storage")
            stored.add(v)
            pageouts += 1
            pageout_j += c.pageout_j[v]
            paging_s += c.pageout_s[v]
            clock += c.pageout_s[v]
        elif op.action is Action.PAGE_IN:
            if v not in stored:
                raise fail(k, op, "the tensor was never written to storage")
            if v in in_ram:
                raise fail(k, op, "the tensor is already in RAM (a wasted page-in)")
            in_ram.add(v)
            level += m[v]
            pageins += 1
            pagein_j += c.pagein_j[v]
            paging_s += c.pagein_s[v]
            clock += c.pagein_s[v]
        if level > budget + _BYTES_SLACK:
            raise fail(k, op, f"RAM in use {level:,.0f} B exceeds the budget of {budget:,.0f} B")
        if level > peak:
            peak, peak_index = level, k
        ram_trace[k] = level
        time_trace[k] = clock

    never = [g.nodes[v].name for v in range(len(g)) if v not in computed]
    if never:
        raise ScheduleError(
            f"the schedule never computes {', '.join(never[:5])}"
            + (f" and {len(never) - 5} more" if len(never) > 5 else "")
        )
    charged = compute_s + (paging_s if problem.switches.count_paging_time else 0.0)
    if budget_bytes is None and charged > problem.runtime_budget_s * (1 + _RUNTIME_REL_SLACK):
        raise ScheduleError(
            f"the schedule takes {charged:.6g} s, over the runtime budget of "
            f"{problem.runtime_budget_s:.6g} s ({problem.runtime_factor:g}x the plain pass)"
        )
    for a in (ram_trace, time_trace):
        a.setflags(write=False)
    return SimResult(
        operations=tuple(operations),
        ram_bytes=ram_trace,
        time_s=time_trace,
        budget_bytes=budget,
        peak_ram_bytes=peak,
        peak_index=peak_index,
        compute_j=compute_j,
        pagein_j=pagein_j,
        pageout_j=pageout_j,
        compute_s=compute_s,
        paging_s=paging_s,
        recomputes=recomputes,
        pageins=pageins,
        pageouts=pageouts,
    )
