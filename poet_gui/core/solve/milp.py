"""Solve the POET MILP with HiGHS (through highspy's array API) or CBC (through PuLP).

The result is always stated honestly: OPTIMAL only when the solver proved the gap closed,
FEASIBLE with its gap and bound for a time-limited incumbent, INFEASIBLE, TIME_LIMIT (no plan in
time) or CANCELLED. Energies are recomputed in joules from the rounded 0/1 decisions.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from pathlib import Path

import numpy as np

from poet_gui.core.errors import SolveError
from poet_gui.core.schedule.operations import prune_redundant
from poet_gui.core.schedule.plan import (
    APPROXIMATE_SUFFIX,
    OPTIMAL_GAP,
    Decisions,
    Plan,
    SolveStatus,
    decisions_energy_j,
)
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.schedule.reference_points import min_ram_bytes
from poet_gui.core.solve.eviction_bound import EvictionBound, attaining_restriction, eviction_bound
from poet_gui.core.solve.highs_backend import configured_highs, has_solution
from poet_gui.core.solve.milp_lns import search_groups
from poet_gui.core.solve.milp_model import BuildDeadlineError, Family, MilpModel, SparseMilp, build_model
from poet_gui.core.solve.milp_window import SweepResult, restrict, satisfies, sweep_windows


class Solver(StrEnum):
    """MILP back-ends. HiGHS is the default: on this problem it is orders of magnitude faster."""

    HIGHS = "highs"
    CBC = "cbc"


class Method(StrEnum):
    """Exact MILP, or the windowed approximation (:mod:`milp_window`) for models too large to solve
    exactly in a user's wait; ``auto`` picks by model size (:data:`EXACT_MAX_COLUMNS`)."""

    AUTO = "auto"
    EXACT = "exact"
    WINDOWED = "windowed"


#: Above this many columns ``auto`` uses the windowed approximation. Measured (benchmarks/RESULTS.md):
#: resnet50's 420k-column model is still presolving after 25 s and has no root LP after 60 s; the
#: largest models HiGHS closes or nearly closes in a minute (resnet18_cifar) have ~65k.
EXACT_MAX_COLUMNS = 120_000
#: Most of the time limit the model's build may take, leaving the rest for the search: a model that
#: cannot be built in it is given up (an 869-node ResNet: 2.4 million columns, 2 s; 16 s before the
#: builder worked in arrays).
BUILD_SHARE = 0.6
#: Least time the build is allowed whatever the limit: a model of a few hundred nodes builds in well
#: under it, so a tiny limit still leaves the search its start plan rather than no model at all.
MIN_BUILD_S = 1.0
#: Longest the eviction bound's cover search may run: a tenth of the time limit, at least 1 s. It takes
#: milliseconds on every zoo model and graph of a few hundred nodes, but HiGHS needs 1.7-2.5 s on the
#: cover of an 869-node ResNet (m4 and a72), and a search stopped before its root LP has no bound at
#: all (resnet_50/m4/h0.2 at 1 s: none; at 2 s: 1.119x plain).
QUICK_BOUND_SHARE = 0.1
QUICK_BOUND_MIN_S = 1.0
#: Share of the time limit the per-moment eviction bound may use when the quick one did not settle the
#: plan, between 1 s and 3 s: on imported residual graphs (m4) it still rises between 1 s and 3 s
#: (resnet_8 at headroom 0.1: 1.183x to 1.201x plain), and its dual bound holds when it stops.
MOMENT_BOUND_SHARE = 0.1
MOMENT_BOUND_MIN_S, MOMENT_BOUND_MAX_S = 1.0, 3.0
#: Shares of the time limit the searches restricted to a bound's tensors may use before the full MILP
#: starts from their plan: first the quick bound's (where it is tight, on the zoo's chains and CNNs, it
#: finds the optimum in well under a second: vgg16/m4 at 30 % in 0.3 s), then the per-moment bound's.
#: Measured on m4 imported graphs, 30 s: the second proves residual_mlp_8 at h 0.2 optimal after 7 s,
#: where 3 s did not; a 25 % share for the first left residual_mlp_8 at h 0.1 with a plan worse than
#: the heuristic's after 7.5 s, and the tensor-group search, still improving, only 6 s.
ATTAINING_SHARE = 0.1
MOMENT_ATTAINING_SHARE = 0.25
#: Share of the time left after them that the search over tensor groups (:mod:`milp_lns`) may use
#: before the full MILP starts from its plan (the search hands over sooner when it stalls). Measured
#: on m4 imported graphs, 30 s, in one run: 0.75 against 0.5 gave resnet_8 at h 0.1 1.645x plain
#: instead of 1.693x and unet_3 at h 0.2 1.473x instead of 1.580x, the same plans elsewhere, and the
#: same bounds (branch and bound raised none of them by more than 0.1 %).
LNS_SHARE = 0.75
#: A plan this close to the proven floor skips the tensor-group search: what is left is the proof,
#: which branch and bound gives. Measured on the README's tiny transformer (a72, 60 %): the plan was
#: 0.024 % above the floor after 3 s, and 32 groups then improved nothing in 26 s of 60.
LNS_SKIP_GAP = 1e-3
#: Time kept back per model column, in the windowed approximation, for checking and accepting the last
#: window's plan on the whole model.
FINISH_S_PER_COLUMN = 1e-6


#: Share of the windowed approximation's time for its stage windows; the tensor-group search gets the
#: rest. Measured on mobilenet_9 / m4 (144,255 columns): the windows alone took the whole 30 s.
WINDOW_SHARE = 0.4
#: The most threads a solve takes by default: the tensor-group search runs one group per thread and
#: gains from each core, but more groups at once are more often overtaken by each other's results.
MAX_DEFAULT_THREADS = 4


def default_threads() -> int:
    """The threads a solve uses unless told otherwise: the cores this process may run on (its CPU
    affinity, where the system has one), at most :data:`MAX_DEFAULT_THREADS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_DEFAULT_THREADS, cores))


@dataclass(frozen=True, slots=True)
class SolverOptions:
    """How long and how hard to search. ``rel_gap`` is the relative gap at which the solver stops;
    the default is the gap this project calls optimal, so no time goes into a finer proof that
    HiGHS's tolerances could not certify anyway. ``threads`` are HiGHS's on the full model and the
    number of tensor groups the local search re-optimises at once (:func:`_search_groups`)."""

    solver: Solver = Solver.HIGHS
    time_limit_s: float = 60.0
    rel_gap: float = OPTIMAL_GAP
    threads: int = field(default_factory=default_threads)
    method: Method = Method.AUTO


@dataclass(frozen=True, slots=True)
class Progress:
    """A solver's running state: best plan so far and proven bound, in joules (None if unknown)."""

    elapsed_s: float
    incumbent_j: float | None
    bound_j: float | None

    @property
    def gap(self) -> float | None:
        if self.incumbent_j is None or self.bound_j is None or self.incumbent_j <= 0:
            return None
        return max(0.0, (self.incumbent_j - self.bound_j) / self.incumbent_j)


ProgressCallback = Callable[[Progress], None]
#: A search for a whole plan run beside the tensor groups, called with ``threads`` (HiGHS's) and
#: ``halt`` (an event that stops it, or None): returns a plan that satisfies the model, or None.
_Companion = Callable[..., np.ndarray | None]


@dataclass(frozen=True, slots=True)
class _RawResult:
    """What a back-end found, in the model's scaled units."""

    status: SolveStatus
    x: np.ndarray | None
    bound: float | None  # scaled, offset included
    note: str = ""  # what an approximation did, for the plan's message


def solve_milp(
    problem: Problem,
    options: SolverOptions = SolverOptions(),
    *,
    cancel: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    start: Decisions | None = None,
) -> Plan:
    """Build and solve the MILP of ``problem``; return the plan with an honest status.

    ``start`` (a schedule the simulator accepted, e.g. the best heuristic's) seeds HiGHS with an
    incumbent, so a time limit can never leave the user with less than that schedule.
    """
    started = time.perf_counter()
    need = min_ram_bytes(problem)
    if problem.activation_budget_bytes < need:
        # Proof without search: stage t holds node t's inputs and output at once (FORMULATION §4.5
        # frees inputs only after the next compute), so no U[t,t] can be below this.
        return Plan(problem, SolveStatus.INFEASIBLE, f"milp-{options.solver.value}", None,
                    solve_s=time.perf_counter() - started,
                    message=f"the largest step needs {need:,.0f} B of RAM, above the budget")  # fmt: skip
    try:
        model = build_model(problem, deadline=started + _build_allowance_s(options))
    except BuildDeadlineError:
        return _unbuilt(problem, options, started)
    if options.solver is Solver.CBC:
        return _to_plan(model, _solve_cbc(model, options), options, time.perf_counter() - started)
    quick_limit = min(max(QUICK_BOUND_MIN_S, QUICK_BOUND_SHARE * options.time_limit_s), options.time_limit_s)
    bound = eviction_bound(problem, time_limit_s=quick_limit, threads=options.threads)
    floor = None if bound is None else bound.energy_j * model.objective_scale
    x0 = None if start is None else model.start_vector(start)

    def report(x: np.ndarray | None) -> None:
        if on_progress is not None:
            incumbent = None if x is None else model.energy_j(_objective(model, x))
            proven = problem.plain_energy_j if floor is None else model.energy_j(floor)
            on_progress(Progress(time.perf_counter() - started, incumbent, proven))

    report(x0)
    windowed = x0 is not None and _use_windows(model, options)
    if x0 is not None and _reaches(model, x0, floor):
        raw = _RawResult(
            SolveStatus.OPTIMAL, x0, floor, "proven optimal: the heuristic plan meets the eviction lower bound"
        )
        return _to_plan(model, raw, options, time.perf_counter() - started, floor=floor)
    if bound is not None and bound.evicted and not windowed:  # measured: no plan in 16 s on bert or resnet50
        attained = _solve_attaining(model, bound, floor, options, cancel, started)
        if attained is not None and _reaches(model, attained, floor):
            report(attained)
            raw = _RawResult(
                SolveStatus.OPTIMAL,
                attained,
                floor,
                "proven optimal: a plan that drops only the tensors the eviction lower bound names meets that bound",
            )
            return _to_plan(model, raw, options, time.perf_counter() - started, floor=floor)
        if attained is not None and (x0 is None or _objective(model, attained) < _objective(model, x0)):
            x0 = attained
            report(x0)
    # The per-moment bound: a higher floor, and a cover whose tensors (with the inputs their
    # recomputations need) are a restriction worth searching again (not on a model the size of the
    # windowed approximation's, as for the quick bound). Measured on m4 (benchmarks/REAL.md): it proves
    # transformer_1x16 at h 0.5 optimal in 0.5 s and residual_mlp_8 at h 0.2 in 12 s, where the quick
    # bound's restriction left a 30 s search with no proof.
    refined = _refined_bound(model, options, cancel, started, floor)
    attaining: _Companion | None = None  # the search restricted to the per-moment bound's tensors
    if refined is not None:
        floor = max(floor, refined.energy_j * model.objective_scale)
        if x0 is not None and not windowed and not _reaches(model, x0, floor) and refined.evicted:
            share = MOMENT_ATTAINING_SHARE
            attaining = partial(_solve_attaining, model, refined, floor, options, cancel, started, share)
    if attaining is not None and _within(model, x0, floor, LNS_SKIP_GAP):
        # The tensor groups will be skipped, so the restricted search runs on its own, on every thread.
        attained = attaining(threads=options.threads)
        if attained is not None and _objective(model, attained) < _objective(model, x0):
            x0 = attained
            report(x0)
        attaining = None
    if x0 is not None and _reaches(model, x0, floor):
        note = "proven optimal: the plan meets the per-moment eviction lower bound"
        raw = _RawResult(SolveStatus.OPTIMAL, x0, floor, note)
        return _to_plan(model, raw, options, time.perf_counter() - started, floor=floor)
    if windowed:
        raw = _solve_windowed(model, options, cancel, on_progress, started, x0, floor)
        return _to_plan(model, raw, options, time.perf_counter() - started, windowed=windowed, floor=floor)
    lns_note = ""
    if x0 is not None and not _within(model, x0, floor, LNS_SKIP_GAP):
        share = LNS_SHARE * (options.time_limit_s - (time.perf_counter() - started))
        searched = _search_groups(
            model, options, cancel, on_progress, started, x0, floor, share, attaining, hand_over_gap=LNS_SKIP_GAP
        )
        x0 = searched.x
        if searched.windows_improved:
            lns_note = f"{searched.windows_improved} of {searched.windows_solved} tensor groups improved the plan"
        if _reaches(model, x0, floor):
            found = lns_note or "the search over the per-moment bound's tensors found a plan"
            note = f"proven optimal: {found}, and it meets the eviction lower bound"
            return _to_plan(model, _RawResult(SolveStatus.OPTIMAL, x0, floor, note), options,
                            time.perf_counter() - started, floor=floor)  # fmt: skip
    raw = _solve_highs(model, options, cancel, on_progress, started, x0, floor)
    if lns_note and not raw.note:
        raw = replace(raw, note=f"before branch and bound, {lns_note}")
    return _to_plan(model, raw, options, time.perf_counter() - started, floor=floor)


def _build_allowance_s(options: SolverOptions) -> float:
    return max(MIN_BUILD_S, BUILD_SHARE * options.time_limit_s)


def _unbuilt(problem: Problem, options: SolverOptions, started: float) -> Plan:
    """The answer when the model could not be built in time: no plan, but (with HiGHS) the eviction
    bound, which needs no model, so a caller's heuristic plan still gets an honest gap."""
    bound = None
    if options.solver is not Solver.CBC:
        left = options.time_limit_s - (time.perf_counter() - started)
        # Half of what the build left, not the usual second: on this graph size the cover search
        # needs it (resnet_50/m4/h0.1: no bound in 1 s, 1.197x plain in 4.4 s), and its setup is
        # not counted in its own limit.
        bound = eviction_bound(problem, time_limit_s=max(0.1, 0.5 * left), threads=options.threads)
    limit = _build_allowance_s(options)
    return Plan(
        problem,
        SolveStatus.TIME_LIMIT,
        f"milp-{options.solver.value}",
        None,
        bound_j=None if bound is None else bound.energy_j,
        solve_s=time.perf_counter() - started,
        message=(
            f"the solver's model of this {len(problem.graph):,}-node graph takes longer to build than the "
            f"{limit:.{1 if limit >= 0.1 else 2}f} s the time limit leaves for it"
        ),
    )


def _refined_bound(
    model: MilpModel, options: SolverOptions, cancel: threading.Event | None, started: float, floor: float | None
) -> EvictionBound | None:
    """The per-moment eviction bound, when there is time for it: a plan the quick bound did not settle
    is one where the bound's refinement (returns per moment, the inputs a recomputation needs) is worth
    its second or so, for the gap the user sees and for stopping early."""
    remaining = options.time_limit_s - (time.perf_counter() - started)
    limit = min(max(MOMENT_BOUND_MIN_S, MOMENT_BOUND_SHARE * options.time_limit_s), MOMENT_BOUND_MAX_S)
    if floor is None or (cancel is not None and cancel.is_set()) or remaining < 2 * limit:
        return None
    return eviction_bound(model.problem, time_limit_s=limit, threads=options.threads, per_moment=True)


def _use_windows(model: MilpModel, options: SolverOptions) -> bool:
    if options.method is Method.AUTO:
        return model.num_cols > EXACT_MAX_COLUMNS
    return options.method is Method.WINDOWED


def _to_plan(
    model: MilpModel,
    raw: _RawResult,
    options: SolverOptions,
    solve_s: float,
    *,
    windowed: bool = False,
    floor: float | None = None,
) -> Plan:
    """The plan of a back-end's answer, with its energy recomputed from the 0/1 decisions and the best
    proven bound: the solver's, the eviction bound (``floor``, scaled) or the plain pass's energy."""
    problem = model.problem
    strategy = f"milp-{options.solver.value}" + (APPROXIMATE_SUFFIX if windowed else "")
    if raw.x is None:
        return Plan(problem, raw.status, strategy, None, solve_s=solve_s, message=_no_plan_message(raw.status))
    mats = model.decisions_from(raw.x)
    decisions = prune_redundant(problem.graph, Decisions.of(*(mats[f] for f in Family)))
    energy = sum(decisions_energy_j(problem, decisions))
    solver_energy = model.energy_j(_objective(model, raw.x))
    # The plain pass's energy bounds every schedule from below (each node runs at least once), so a
    # plan always has a bound even when the solver stopped before proving one.
    proven = [problem.plain_energy_j]
    if raw.bound is not None and math.isfinite(raw.bound):
        proven.append(model.energy_j(raw.bound))
    if floor is not None:
        proven.append(model.energy_j(floor))
    bound = min(max(proven), energy)
    status = raw.status
    if status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        # Optimal exactly when a proven bound is within OPTIMAL_GAP: a solver stopped at a gap the
        # user allowed proves nothing more, and an incumbent meeting the eviction bound is a proof.
        status = SolveStatus.OPTIMAL if energy - bound <= OPTIMAL_GAP * energy else SolveStatus.FEASIBLE
    against = "the eviction lower bound" if floor is not None else "the plain pass's energy"
    message = (
        f"approximation (windowed MILP on the exact model's {model.num_cols:,} columns): {raw.note}; the gap is "
        f"measured against {against}, a proven lower bound"
        if windowed
        else raw.note
    )
    if windowed and status is SolveStatus.OPTIMAL:
        # A proof makes the plan exact, however it was found: it is not labelled an approximation.
        strategy = f"milp-{options.solver.value}"
        message = f"found by the windowed MILP ({raw.note}) and proven optimal, as it meets {against}"
    return Plan(
        problem,
        status,
        strategy,
        decisions,
        energy_j=energy,
        bound_j=bound,
        solve_s=solve_s,
        solver_energy_j=solver_energy,
        message=message,
    )


def _objective(model: SparseMilp, x: np.ndarray) -> float:
    """The scaled objective of ``x``, offset included."""
    return float(model.cost @ x) + model.objective_offset


def _reaches(model: SparseMilp, x: np.ndarray, floor: float | None) -> bool:
    """Whether ``x`` is within OPTIMAL_GAP of the proven ``floor`` (so optimal)."""
    return _meets(_objective(model, x), floor)


def _incumbent(out, milp: SparseMilp) -> float:
    """The objective of the incumbent in a HiGHS callback's ``data_out``, computed from its vector: with a
    MIP start HiGHS 1.16 can report a value that is not its solution's (seen 2.7 % low on a random
    8-node graph), so the reported ``mip_primal_bound`` is never trusted alone."""
    solution = np.asarray(out.mip_solution)
    return _objective(milp, solution) if len(solution) == milp.num_cols else math.inf


def _incumbent_meets(out, milp: SparseMilp, floor: float | None) -> bool:
    """Whether the callback's incumbent meets ``floor``: the reported value first (cheap, as this runs
    at every interrupt check), then the vector's own objective."""
    return _meets(out.mip_primal_bound, floor) and _meets(_incumbent(out, milp), floor)


def _meets(objective: float, floor: float | None, gap: float = OPTIMAL_GAP) -> bool:
    """Whether a scaled objective value is within ``gap`` (relative) of the proven ``floor``."""
    return floor is not None and math.isfinite(objective) and objective - floor <= gap * abs(objective)


def _within(model: SparseMilp, x: np.ndarray, floor: float | None, gap: float) -> bool:
    """Whether ``x`` is within ``gap`` (relative) of the proven ``floor``."""
    return _meets(_objective(model, x), floor, gap)


def _canonical(model: MilpModel, x: np.ndarray) -> np.ndarray:
    """``x``'s schedule without what changes nothing (:func:`prune_redundant`) and with every FREE and
    RAM level recomputed from its 0/1 decisions: the exact point a MIP start or an acceptance test
    should see, free of a solver's tolerances, so a search goes on from the cheaper plan."""
    mats = model.decisions_from(x)
    return model.start_vector(prune_redundant(model.problem.graph, Decisions.of(*(mats[f] for f in Family))))


def _no_plan_message(status: SolveStatus) -> str:
    return {
        SolveStatus.INFEASIBLE: "no schedule fits these budgets",
        SolveStatus.TIME_LIMIT: "the solver found no plan within the time limit",
        SolveStatus.CANCELLED: "the solve was cancelled before a plan was found",
    }.get(status, "")


# --- HiGHS -----------------------------------------------------------------------------------------

_PROGRESS_EVERY_S = 0.5


def _solve_highs(
    model: MilpModel,
    options: SolverOptions,
    cancel: threading.Event | None,
    on_progress: ProgressCallback | None,
    started: float,
    x0: np.ndarray | None,
    floor: float | None,
) -> _RawResult:
    """The exact MILP, from the start ``x0``, within what is left of the time limit; it stops as soon as
    its incumbent meets ``floor``."""
    import highspy

    last_report = [0.0]
    met_floor = [False]
    start_x = x0

    def report(event) -> None:  # runs on HiGHS's thread
        out = event.data_out
        inc, bnd = _incumbent(out, model), out.mip_dual_bound
        if floor is not None:
            bnd = max(bnd, floor)
        bnd = min(bnd, inc)
        last_report[0] = time.perf_counter()
        on_progress(
            Progress(
                last_report[0] - started,
                model.energy_j(inc) if math.isfinite(inc) else None,
                model.energy_j(bnd) if math.isfinite(bnd) else None,
            )
        )

    def interrupt(event) -> None:
        """Called often during branch and bound: honour a cancel, stop at the eviction bound, and
        report the bound twice a second."""
        if cancel is not None and cancel.is_set():
            event.interrupt()
        elif _incumbent_meets(event.data_out, model, floor):
            met_floor[0] = True
            event.interrupt()
        elif on_progress is not None and time.perf_counter() - last_report[0] > _PROGRESS_EVERY_S:
            report(event)

    def run(*, presolve: bool, time_limit_s: float):
        h = configured_highs(
            model,
            time_limit_s=max(0.0, time_limit_s),
            rel_gap=options.rel_gap,
            threads=options.threads,
            start=x0,
            presolve=presolve,
        )
        if on_progress is not None:
            h.cbMipImprovingSolution.subscribe(report)
        h.cbMipInterrupt.subscribe(interrupt)
        h.run()
        return h

    ms = highspy.HighsModelStatus
    understood = (ms.kOptimal, ms.kTimeLimit, ms.kInterrupt, ms.kIterationLimit, ms.kSolutionLimit)
    h = run(presolve=True, time_limit_s=options.time_limit_s - (time.perf_counter() - started))
    status = h.getModelStatus()
    remaining = options.time_limit_s - (time.perf_counter() - started)
    if status not in understood and remaining > 0 and not (cancel is not None and cancel.is_set()):
        # HiGHS 1.16's presolve can call a feasible model infeasible or stop with "Solve error" on
        # small graphs with several 0-FLOP nodes (found by tests/core/test_milp_random.py; CBC and
        # HiGHS without presolve agree on the optimum), so such an answer is re-checked without it.
        h = run(presolve=False, time_limit_s=remaining)
        status = h.getModelStatus()
    x = np.asarray(h.getSolution().col_value) if has_solution(h) else None
    remaining = options.time_limit_s - (time.perf_counter() - started)
    if status == ms.kOptimal and x0 is not None and x is not None and remaining > 0 and not _consistent(h, model, x):
        # HiGHS 1.16 given an optimal start can return that start while reporting a lower objective
        # (and bound) than the start's own: linear / a72 / 3300 B at factor 1.0 claimed 1002906.9 for a
        # 1003042.95 plan that the literal model proves optimal. Without the start it proves the truth.
        x0 = None
        h = run(presolve=True, time_limit_s=remaining)
        status = h.getModelStatus()
        x = np.asarray(h.getSolution().col_value) if has_solution(h) else None
    if x is None and start_x is not None and status in understood:
        x = start_x  # stopped before HiGHS took up the start (or after dropping it): the start still holds
    info = h.getInfo()
    bound = info.mip_dual_bound if model.is_integer.any() else info.objective_function_value
    note = "proven optimal: branch and bound stopped when its plan met the eviction lower bound" if met_floor[0] else ""
    if status == ms.kOptimal:
        return _RawResult(SolveStatus.OPTIMAL, x, bound)
    if status == ms.kInfeasible:
        return _RawResult(SolveStatus.INFEASIBLE, None, None)
    if status in understood:
        if x is not None:
            return _RawResult(SolveStatus.FEASIBLE, x, bound, note)
        cancelled = cancel is not None and cancel.is_set()
        return _RawResult(SolveStatus.CANCELLED if cancelled else SolveStatus.TIME_LIMIT, None, bound)
    raise SolveError(f"HiGHS stopped with status {h.modelStatusToString(status)!r}")


def _consistent(h, model: SparseMilp, x: np.ndarray) -> bool:
    """Whether HiGHS's reported objective is that of the solution it returns (within OPTIMAL_GAP)."""
    reported = h.getInfo().objective_function_value
    actual = _objective(model, x)
    return abs(reported - actual) <= OPTIMAL_GAP * max(1.0, abs(actual))


def _solve_attaining(
    model: MilpModel,
    bound: EvictionBound,
    floor: float | None,
    options: SolverOptions,
    cancel: threading.Event | None,
    started: float,
    share: float = ATTAINING_SHARE,
    *,
    threads: int | None = None,
    halt: threading.Event | None = None,
) -> np.ndarray | None:
    """The best plan that drops only the eviction bound's tensors (:func:`attaining_restriction`),
    found within a share of the time limit on ``threads`` HiGHS threads (default the options'), until
    ``cancel`` or ``halt`` is set; None if there is none in time.

    Why first: where the bound is tight (every linear and transformer benchmark case) such a plan
    meets it, and the restricted MILP has a fraction of the binaries, so the proof takes tens of
    milliseconds instead of seconds of branch and bound on the full model.
    """
    remaining = options.time_limit_s - (time.perf_counter() - started)
    limit = min(remaining, share * options.time_limit_s)
    if limit <= 0 or (cancel is not None and cancel.is_set()):
        return None
    free, fixed = attaining_restriction(model, bound)
    sub = restrict(model, free, fixed)

    def interrupt(event) -> None:
        # Its point is a plan that meets the floor: once its own dual bound shows that none of its
        # plans can, the rest of its share goes to the searches after it.
        out = event.data_out
        hopeless = floor is not None and math.isfinite(out.mip_dual_bound) and not _meets(out.mip_dual_bound, floor)
        stopped = any(e is not None and e.is_set() for e in (cancel, halt))
        if stopped or hopeless or _incumbent_meets(out, sub, floor):
            event.interrupt()

    threads = options.threads if threads is None else threads
    h = configured_highs(sub, time_limit_s=limit, rel_gap=options.rel_gap, threads=threads)
    h.cbMipInterrupt.subscribe(interrupt)
    h.run()
    if not has_solution(h):
        return None
    x = fixed.copy()
    x[free] = np.asarray(h.getSolution().col_value)
    for candidate in (_canonical(model, x), x):
        if satisfies(model, candidate):
            return candidate
    return None


def _highs_part_solver(options: SolverOptions, *stops: threading.Event | None, threads: int | None = None):
    """Solves a restricted MILP (a window or a tensor group) with HiGHS from a start, within a limit,
    on ``threads`` threads (default the options'), interrupted as soon as one of ``stops`` is set."""
    events = [e for e in stops if e is not None]
    threads = options.threads if threads is None else threads

    def solve_part(sub: SparseMilp, start: np.ndarray, limit_s: float) -> np.ndarray | None:
        h = configured_highs(sub, time_limit_s=limit_s, rel_gap=options.rel_gap, threads=threads, start=start)
        if events:
            h.cbMipInterrupt.subscribe(lambda event: event.interrupt() if any(e.is_set() for e in events) else None)
        h.run()
        return np.asarray(h.getSolution().col_value) if has_solution(h) else None

    return solve_part


def _improvement_reporter(
    model: MilpModel, on_progress: ProgressCallback | None, started: float, floor: float | None
) -> Callable[[np.ndarray], None]:
    """What a local search calls with each better plan: a progress report of its energy against the
    proven ``floor`` (or the plain pass's energy, when nothing is proven yet)."""
    shown_bound = model.problem.plain_energy_j if floor is None else model.energy_j(floor)

    def improved(x: np.ndarray) -> None:
        if on_progress is not None:
            on_progress(Progress(time.perf_counter() - started, model.energy_j(_objective(model, x)), shown_bound))

    return improved


def _search_groups(
    model: MilpModel,
    options: SolverOptions,
    cancel: threading.Event | None,
    on_progress: ProgressCallback | None,
    started: float,
    x0: np.ndarray,
    floor: float | None,
    time_limit_s: float,
    companion: _Companion | None = None,
    *,
    hand_over_gap: float = OPTIMAL_GAP,
) -> SweepResult:
    """The search over tensor groups (:func:`milp_lns.search_groups`) with HiGHS, reporting each
    improvement against the proven ``floor`` (or the plain pass's energy), until a plan is within
    ``hand_over_gap`` of it: before branch and bound, :data:`LNS_SKIP_GAP`, which it closes faster
    (the README's tiny transformer: the companion's plan 0.024 % above the floor after 3 s, then 46
    groups improved it by nothing that mattered in 50 s).

    The options' threads are spent as that many groups at once, each on one HiGHS thread: measured
    (benchmarks/REAL.md), two groups at once on two cores beat one group on two HiGHS threads. A
    ``companion`` search (the per-moment bound's restriction) takes one of those threads beside them.
    """
    halt = threading.Event()
    beside = None if companion is None else partial(companion, threads=1, halt=halt)
    return search_groups(
        model,
        x0,
        _highs_part_solver(options, cancel, halt, threads=1),
        time_limit_s=time_limit_s,
        cancel=cancel,
        on_improved=_improvement_reporter(model, on_progress, started, floor),
        canonical=lambda x: _canonical(model, x),
        good_enough=lambda x: _within(model, x, floor, hand_over_gap),
        workers=options.threads,
        halt=halt,
        companion=beside,
    )


def _sweep_windows(
    model: MilpModel,
    options: SolverOptions,
    cancel: threading.Event | None,
    on_progress: ProgressCallback | None,
    started: float,
    x0: np.ndarray,
    floor: float | None,
    time_limit_s: float,
) -> SweepResult:
    """The sweep over stage windows (:func:`milp_window.sweep_windows`) with HiGHS on each window, the
    canonical re-derivation of dependent columns, and a stop as soon as a plan meets ``floor``."""
    return sweep_windows(
        model,
        x0,
        _highs_part_solver(options, cancel),
        time_limit_s=time_limit_s,
        cancel=cancel,
        on_improved=_improvement_reporter(model, on_progress, started, floor),
        canonical=lambda x: _canonical(model, x),
        good_enough=lambda x: _reaches(model, x, floor),
    )


def _solve_windowed(
    model: MilpModel,
    options: SolverOptions,
    cancel: threading.Event | None,
    on_progress: ProgressCallback | None,
    started: float,
    x0: np.ndarray,
    floor: float | None,
) -> _RawResult:
    """The windowed approximation (:func:`milp_window.sweep_windows`) with HiGHS on each window.

    Its gap is measured against the eviction bound (or the plain pass's energy): the full LP
    relaxation of a model this size takes longer than the sweep itself.
    """
    # Accepting a window's plan checks the whole model (about a microsecond per column): on resnet_50's
    # 2.4 million columns the last acceptances overran a 30 s limit by 2 s, so they get their time.
    reserve_s = FINISH_S_PER_COLUMN * model.num_cols
    remaining = options.time_limit_s - (time.perf_counter() - started) - reserve_s
    result = _sweep_windows(model, options, cancel, on_progress, started, x0, floor, WINDOW_SHARE * remaining)
    x, cancelled = result.x, result.cancelled
    remaining = options.time_limit_s - (time.perf_counter() - started) - reserve_s
    groups = None
    if not cancelled and not _reaches(model, x, floor) and remaining > 0:
        # Windows cannot move a decision across their edges; tensor groups can (measured on a
        # 227-node residual MLP, m4: no window improved the heuristic plan).
        groups = _search_groups(model, options, cancel, on_progress, started, x, floor, remaining)
        x, cancelled = groups.x, groups.cancelled
    changed = result.windows_improved + (groups.windows_improved if groups is not None else 0)
    parts = f"{result.windows_improved} of {result.windows_solved} re-optimised windows"
    if groups is not None:
        parts += f" and {groups.windows_improved} of {groups.windows_solved} tensor groups"
    note = f"{parts} improved the starting plan" + ("" if changed else ", which is shown")
    if cancelled:
        note += " (cancelled)"
    return _RawResult(SolveStatus.FEASIBLE, x, None, note)


# --- CBC -------------------------------------------------------------------------------------------

_CBC_BOUND = re.compile(r"^Lower bound:\s+(-?[0-9.eE+-]+)", re.MULTILINE)


def _solve_cbc(model: MilpModel, options: SolverOptions) -> _RawResult:
    """CBC through PuLP. PuLP's ``status`` calls a time-limited incumbent "Optimal"; ``sol_status``
    tells the truth, so only ``sol_status`` decides our status."""
    import pulp

    prob = pulp.LpProblem("poet", pulp.LpMinimize)
    cols = [
        pulp.LpVariable(
            f"x{j}",
            lo,
            hi,
            pulp.LpBinary if (is_int and lo == 0 and hi == 1) else (pulp.LpInteger if is_int else pulp.LpContinuous),
        )
        for j, (lo, hi, is_int) in enumerate(zip(model.col_lower, model.col_upper, model.is_integer, strict=True))
    ]
    prob += pulp.LpAffineExpression([(cols[j], c) for j, c in enumerate(model.cost) if c != 0])
    for r in range(model.num_rows):
        a, b = model.row_start[r], model.row_start[r + 1]
        expr = pulp.LpAffineExpression(
            [(cols[c], v) for c, v in zip(model.col_index[a:b], model.value[a:b], strict=True)]
        )
        lo, hi = model.row_lower[r], model.row_upper[r]
        if lo == hi:
            prob += expr == lo
        else:
            if math.isfinite(lo):
                prob += expr >= lo
            if math.isfinite(hi):
                prob += expr <= hi
    with tempfile.TemporaryDirectory(prefix="poet-cbc-") as tmp:
        log = Path(tmp) / "cbc.log"
        solver = pulp.PULP_CBC_CMD(
            msg=False,
            timeLimit=options.time_limit_s,
            gapRel=options.rel_gap,
            threads=options.threads,
            logPath=str(log),
        )
        prob.solve(solver)
        log_text = log.read_text(errors="replace") if log.exists() else ""
    status = _status_from_pulp(prob.status, prob.sol_status)
    x = None
    if status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        x = np.array([v.varValue or 0.0 for v in cols])
    bound = None
    if status is SolveStatus.OPTIMAL and x is not None:
        # CBC "optimal" means within the requested gap: that is all it proves about the bound.
        objective = float(model.cost @ x) + model.objective_offset
        bound = objective - options.rel_gap * abs(objective)
    else:
        found = _CBC_BOUND.findall(log_text)
        if found:
            bound = float(found[-1]) + model.objective_offset
    return _RawResult(status, x, bound)


def _status_from_pulp(status: int, sol_status: int) -> SolveStatus:
    """Map PuLP's result. ``status`` says "Optimal" for a timed-out incumbent, so ``sol_status``
    decides, except for a proven infeasibility, which CBC reports in ``status`` alone."""
    import pulp

    if status == pulp.LpStatusInfeasible:
        return SolveStatus.INFEASIBLE
    return {
        pulp.LpSolutionOptimal: SolveStatus.OPTIMAL,
        pulp.LpSolutionIntegerFeasible: SolveStatus.FEASIBLE,
        pulp.LpSolutionInfeasible: SolveStatus.INFEASIBLE,
        pulp.LpSolutionNoSolutionFound: SolveStatus.TIME_LIMIT,
    }.get(sol_status, SolveStatus.TIME_LIMIT)
