"""What the heuristic strategies share: a per-tensor way to write a schedule, a fast RAM measure of it,
and the final check by the simulator.

A strategy does not fill the five decision matrices by hand. It answers one question per tensor and
*gap*: after node ``i``'s output was last needed (or produced) in stage ``b``, and before it is needed
again in stage ``a > b + 1``, should it stay in RAM (:attr:`Gap.KEEP`), go to storage
(:attr:`Gap.PAGE`) or be recomputed in stage ``a`` (:attr:`Gap.REMAT`)? A tensor is *needed* in stage
``t`` when a node computed in ``t`` reads it; between consecutive needs it simply stays in RAM.
:func:`build_layout` turns the answers into a schedule that obeys FORMULATION §4 by construction:

- KEEP: resident from the stage after ``b`` through the next run of needs;
- PAGE: written out once, in stage ``i + 1`` (the first stage a tensor can be resident in, so its
  only cost in RAM is the end of its own stage), read back in stage ``a - 1`` (a page-in lands in RAM
  from the next stage on) and resident through the run. Storage must hold it at the start of
  ``a - 1``, hence PAGE needs ``a >= i + 3``;
- REMAT: computed again in stage ``a`` and resident through the rest of the run. The recompute reads
  ``i``'s inputs in stage ``a``, so they become needed there too: tensors are therefore settled from
  the last node down, after every consumer (and so every recompute that reads them) is settled.

A *free* tensor (see :func:`free_nodes`) is not asked about: when recomputation is allowed it is
recomputed in every stage that reads it and never kept, which costs nothing and holds the least RAM.
An action the switches (or the PAGE timing) forbid falls back to KEEP; :attr:`Layout.gaps` records
what was applied. :func:`measure` gives each stage's RAM peak in well under the simulator's time, so
strategies can try many layouts; :func:`finish` replays the chosen one in the simulator, which
alone decides whether a plan is returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from poet_gui.core.errors import ScheduleError, SolveCancelled
from poet_gui.core.schedule.operations import build_operations
from poet_gui.core.schedule.plan import Decisions, Plan, SolveStatus, decisions_energy_j
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.schedule.reference_points import min_ram_bytes
from poet_gui.core.schedule.simulate import simulate
from poet_gui.core.solve.milp import Progress, ProgressCallback


class Gap(StrEnum):
    """What happens to a tensor between two stages that need it."""

    KEEP = "keep"
    PAGE = "page"
    REMAT = "remat"


#: ``rule(i, b, a)``: the action for tensor ``i`` between stage ``b`` (its production or last need)
#: and stage ``a`` (its next need), ``a > b + 1``.
GapRule = Callable[[int, int, int], Gap]


@dataclass(frozen=True, slots=True)
class Layout:
    """A schedule written per tensor; every stage index is a stage of the problem's graph.

    ``computes[t]``: nodes computed in stage ``t``, ascending (``t`` itself last). ``resident[i]``:
    inclusive stage intervals ``(first, last)`` during which ``i`` is in RAM at the stage start.
    ``page_in[i]``: stages whose end pages ``i`` in (``i`` is then paged out in stage ``i + 1``).
    ``gaps[i]``: ``(b, a, action)`` for each gap, with the action actually applied.
    """

    computes: tuple[tuple[int, ...], ...]
    resident: tuple[tuple[tuple[int, int], ...], ...]
    page_in: tuple[tuple[int, ...], ...]
    gaps: tuple[tuple[tuple[int, int, Gap], ...], ...]

    def is_available(self, i: int, t: int) -> bool:
        """Whether ``i`` is in RAM at the start of stage ``t`` or is computed in ``t``."""
        return any(s <= t <= e for s, e in self.resident[i]) or i in self.computes[t]


def free_nodes(problem: Problem) -> np.ndarray:
    """``free[i]``: recomputing ``i`` costs nothing and reads nothing that must be kept.

    True for 0-FLOP nodes whose inputs are all free themselves (in practice, the input layer, whose
    "recompute" is reading the sample again), whether or not recomputation is switched on.
    """
    free = np.zeros(len(problem.graph), dtype=bool)
    for i, node in enumerate(problem.graph.nodes):
        free[i] = node.flop == 0 and all(free[u] for u in node.inputs)
    return free


def build_layout(problem: Problem, rule: GapRule) -> Layout:
    """Settle every tensor, from the last node down, asking ``rule`` about each gap (module docstring)."""
    g = problem.graph
    n = len(g)
    paging, remat = problem.switches.paging, problem.switches.remat
    needs: list[set[int]] = [set(g.successors[i]) for i in range(n)]
    computes: list[list[int]] = [[t] for t in range(n)]
    resident: list[tuple[tuple[int, int], ...]] = [()] * n
    page_in: list[tuple[int, ...]] = [()] * n
    gaps: list[tuple[tuple[int, int, Gap], ...]] = [()] * n
    free = free_nodes(problem) if remat else np.zeros(n, dtype=bool)
    for i in range(n - 1, -1, -1):
        if free[i]:
            for t in needs[i]:
                computes[t].append(i)
                for u in g.nodes[i].inputs:
                    needs[u].add(t)
            continue
        spans: list[tuple[int, int]] = []
        ins: list[int] = []
        applied: list[tuple[int, int, Gap]] = []
        previous = i
        for a, b in _runs(sorted(needs[i])):
            if a == previous + 1:
                spans.append((a, b))
            else:
                action = rule(i, previous, a)
                if (action is Gap.PAGE and not (paging and a >= i + 3)) or (action is Gap.REMAT and not remat):
                    action = Gap.KEEP
                applied.append((previous, a, action))
                if action is Gap.KEEP:
                    spans.append((previous + 1, b))
                elif action is Gap.PAGE:
                    ins.append(a - 1)
                    spans.append((a, b))
                else:
                    computes[a].append(i)
                    for u in g.nodes[i].inputs:
                        needs[u].add(a)
                    if b > a:
                        spans.append((a + 1, b))
            previous = b
        if ins and not (spans and spans[0][0] == i + 1):
            spans.insert(0, (i + 1, i + 1))  # resident one stage start, to be written to storage
        resident[i] = tuple(_merged(spans))
        page_in[i] = tuple(ins)
        gaps[i] = tuple(applied)
    return Layout(
        computes=tuple(tuple(sorted(c)) for c in computes),
        resident=tuple(resident),
        page_in=tuple(page_in),
        gaps=tuple(gaps),
    )


def _runs(stages: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive stages, as inclusive ``(first, last)`` pairs."""
    runs: list[tuple[int, int]] = []
    for t in stages:
        if runs and runs[-1][1] == t - 1:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join touching intervals, so each residency is one interval per stretch in RAM."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and out[-1][1] >= s - 1:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


@dataclass(frozen=True, slots=True)
class Levels:
    """RAM levels of a layout (bytes) and its cost.

    ``start[t]``: RAM at the start of stage ``t`` (after the previous stage's page-ins). ``peak[t]``:
    the highest RAM right after a compute of stage ``t``. A tensor in RAM at a stage start that the
    stage neither reads nor keeps (one waiting to be paged out) is counted for the whole stage, as the
    MILP counts it (FORMULATION §4.5); the simulator frees it at once, so these levels never
    understate the simulator's, and a layout that fits here is also feasible for the MILP.
    ``runtime_s`` is what the runtime budget is charged; ``energy_j`` what the plan costs.
    """

    start: np.ndarray
    peak: np.ndarray
    runtime_s: float
    energy_j: float

    def worst_stage(self) -> tuple[int, float]:
        """The stage with the highest level (start or peak) and that level."""
        top = np.maximum(self.start, self.peak)
        t = int(np.argmax(top))
        return t, float(top[t])


def measure(problem: Problem, layout: Layout) -> Levels:
    """RAM levels and cost of ``layout``, mirroring ``schedule.build_operations`` and ``simulate``."""
    g, c = problem.graph, problem.costs
    n = len(g)
    m = np.asarray(c.ram_bytes, dtype=float)
    res = np.zeros((n + 1, n), dtype=bool)
    for i, spans in enumerate(layout.resident):
        for s, e in spans:
            res[s : e + 1, i] = True
    start = res[:n].astype(float) @ m
    mem = m.tolist()
    peak = np.empty(n)
    for t in range(n):
        comp = layout.computes[t]
        if t == n - 1:  # the simulator frees nothing in the last stage
            peak[t] = start[t] + sum(mem[k] for k in comp)
            break
        last_read: dict[int, int] = {}
        for pos, k in enumerate(comp):
            for u in g.nodes[k].inputs:
                last_read[u] = pos
        cur, nxt = res[t], res[t + 1]
        delta = [0.0] * (len(comp) + 1)
        for u, pos in last_read.items():
            if cur[u] and not nxt[u]:
                delta[pos + 1] -= mem[u]  # read for the last time, then freed
        for pos, k in enumerate(comp):
            delta[pos] += mem[k]
            delta[(len(comp) if nxt[k] else last_read.get(k, pos) + 1)] -= mem[k]
        level, top = float(start[t]), -np.inf
        for d in delta[:-1]:
            level += d
            top = max(top, level)
        peak[t] = top
    counts = np.bincount(np.fromiter((k for comp in layout.computes for k in comp), dtype=np.int64), minlength=n)
    ins = np.array([len(s) for s in layout.page_in], dtype=float)
    outs = (ins > 0).astype(float)
    runtime = float(counts @ c.runtime_s)
    if problem.switches.count_paging_time:
        runtime += float(ins @ c.pagein_s + outs @ c.pageout_s)
    energy = float(counts @ c.compute_j + ins @ c.pagein_j + outs @ c.pageout_j)
    return Levels(start=start, peak=peak, runtime_s=runtime, energy_j=energy)


#: Relative slack on the runtime budget: node times summed in another order than the budget's differ in
#: the last bits, and 1.0x must admit the plain pass. Far inside the simulator's own 1e-9.
_RUNTIME_REL_SLACK = 1e-12


def runtime_allowance_s(problem: Problem) -> float:
    """The runtime budget (s) a layout is held to."""
    return problem.runtime_budget_s * (1 + _RUNTIME_REL_SLACK)


def fits(problem: Problem, levels: Levels) -> bool:
    """Whether ``levels`` are within the activation budget and the runtime budget."""
    is_in_ram = levels.worst_stage()[1] <= problem.activation_budget_bytes
    return is_in_ram and levels.runtime_s <= runtime_allowance_s(problem)


def to_decisions(n: int, layout: Layout) -> Decisions:
    """The ``(T, T)`` decision matrices of ``layout`` (FORMULATION §4)."""
    compute = np.zeros((n, n), dtype=bool)
    resident = np.zeros((n, n), dtype=bool)
    stored = np.zeros((n, n), dtype=bool)
    page_in = np.zeros((n, n), dtype=bool)
    page_out = np.zeros((n, n), dtype=bool)
    for t, comp in enumerate(layout.computes):
        compute[t, list(comp)] = True
    for i in range(n):
        for s, e in layout.resident[i]:
            resident[s : e + 1, i] = True
        if layout.page_in[i]:
            page_out[i + 1, i] = True
            stored[i + 2 : max(layout.page_in[i]) + 1, i] = True
            page_in[list(layout.page_in[i]), i] = True
    return Decisions.of(compute, resident, stored, page_in, page_out)


def check_cancel(cancel: threading.Event | None, name: str) -> None:
    """Raise :class:`SolveCancelled` once ``cancel`` is set, so a worker can drop the job at once."""
    if cancel is not None and cancel.is_set():
        raise SolveCancelled(f"{name}: cancelled")


def finish(
    problem: Problem, name: str, decisions: Decisions, started: float, on_progress: ProgressCallback | None
) -> Plan:
    """The plan of ``decisions``: FEASIBLE if the simulator accepts them within both budgets, else
    INFEASIBLE with the simulator's reason (which a layout that fits by :func:`measure` never gets).

    ``energy_j`` comes from the decisions (as the MILP's plans do), so ``planner.verify`` can
    cross-check it against the simulator's own figure.
    """
    try:
        simulate(problem, build_operations(problem.graph, decisions))
    except ScheduleError as exc:
        return no_plan(problem, name, started, f"its schedule fails in the simulator: {exc}")
    energy = sum(decisions_energy_j(problem, decisions))
    if on_progress is not None:
        on_progress(Progress(time.perf_counter() - started, energy, None))
    return Plan(problem, SolveStatus.FEASIBLE, name, decisions, energy_j=energy, solve_s=time.perf_counter() - started)


def no_plan(problem: Problem, name: str, started: float, why: str = "") -> Plan:
    """The package's "this heuristic found no schedule" answer (see the package docstring)."""
    message = f"{name} found no schedule within the budgets" + (f": {why}" if why else "")
    return Plan(problem, SolveStatus.INFEASIBLE, name, None, solve_s=time.perf_counter() - started, message=message)


def out_of_reach(problem: Problem) -> str:
    """Why no schedule at all can meet the budgets, or "" if one might: saves a strategy's search.

    Every node is computed at least once, with its inputs and output in RAM together, so the
    largest such working set and one plain pass of runtime are floors for every schedule.
    """
    floor = min_ram_bytes(problem)
    if problem.activation_budget_bytes < floor:
        return (
            f"no schedule fits {problem.activation_budget_bytes:,.0f} B of activation RAM: the largest step "
            f"needs {floor:,.0f} B"
        )
    if problem.runtime_factor < 1.0:
        return f"the runtime budget ({problem.runtime_factor:g}x) is below one plain pass"
    return ""


def shortfall(problem: Problem, levels: Levels) -> str:
    """Why ``levels`` do not fit, in figures a user can compare with the budgets."""
    t, level = levels.worst_stage()
    if level > problem.activation_budget_bytes:
        return (
            f"stage {t} ({problem.graph.nodes[t].name}) still needs {level:,.0f} B of RAM, over the "
            f"budget of {problem.activation_budget_bytes:,.0f} B"
        )
    return (
        f"the schedule takes {levels.runtime_s:.6g} s, over the runtime budget of "
        f"{problem.runtime_budget_s:.6g} s ({problem.runtime_factor:g}x the plain pass)"
    )
