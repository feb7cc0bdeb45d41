"""Solve the POET MILP with HiGHS (through highspy's array API) or CBC (through PuLP).

The result is always stated honestly: OPTIMAL only when the solver proved the gap closed,
FEASIBLE with its gap and bound for a time-limited incumbent, INFEASIBLE, TIME_LIMIT (no plan in
time) or CANCELLED. Energies are recomputed in joules from the rounded 0/1 decisions.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from poet_gui.core.errors import SolveError
from poet_gui.core.milp_model import Family, MilpModel, SparseMilp, build_model
from poet_gui.core.milp_window import sweep_windows
from poet_gui.core.plan import APPROXIMATE_SUFFIX, OPTIMAL_GAP, Decisions, Plan, SolveStatus, decisions_energy_j
from poet_gui.core.problem import Problem
from poet_gui.core.reference_points import min_ram_bytes
from poet_gui.core.schedule import prune_redundant


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


@dataclass(frozen=True, slots=True)
class SolverOptions:
    """How long and how hard to search. ``rel_gap`` is the relative gap at which the solver stops;
    the default is the gap this project calls optimal, so no time goes into a finer proof that
    HiGHS's tolerances could not certify anyway."""

    solver: Solver = Solver.HIGHS
    time_limit_s: float = 60.0
    rel_gap: float = OPTIMAL_GAP
    threads: int = 1
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
    model = build_model(problem)
    if start is not None and options.solver is Solver.HIGHS and _use_windows(model, options):
        raw = _solve_windowed(model, options, cancel, on_progress, started, start)
        return _to_plan(model, raw, options, time.perf_counter() - started, windowed=True)
    if options.solver is Solver.HIGHS:
        raw = _solve_highs(model, options, cancel, on_progress, started, start)
    else:
        raw = _solve_cbc(model, options)
    return _to_plan(model, raw, options, time.perf_counter() - started)


def _use_windows(model: MilpModel, options: SolverOptions) -> bool:
    if options.method is Method.AUTO:
        return model.num_cols > EXACT_MAX_COLUMNS
    return options.method is Method.WINDOWED


def _to_plan(
    model: MilpModel, raw: _RawResult, options: SolverOptions, solve_s: float, *, windowed: bool = False
) -> Plan:
    problem = model.problem
    strategy = f"milp-{options.solver.value}" + (APPROXIMATE_SUFFIX if windowed else "")
    if raw.x is None:
        return Plan(problem, raw.status, strategy, None, solve_s=solve_s, message=_no_plan_message(raw.status))
    mats = model.decisions_from(raw.x)
    decisions = prune_redundant(
        Decisions.of(
            mats[Family.COMPUTE],
            mats[Family.RESIDENT],
            mats[Family.STORED],
            mats[Family.PAGE_IN],
            mats[Family.PAGE_OUT],
        )
    )
    energy = sum(decisions_energy_j(problem, decisions))
    solver_energy = model.energy_j(float(model.cost @ raw.x) + model.objective_offset)
    # The plain pass's energy bounds every schedule from below (each node runs at least once), so a
    # plan always has a bound even when the solver stopped before proving one.
    solver_bound = None if raw.bound is None or not math.isfinite(raw.bound) else model.energy_j(raw.bound)
    bound = min(max(solver_bound or 0.0, problem.plain_energy_j), energy)
    status = raw.status
    if status is SolveStatus.OPTIMAL and (bound is None or (energy - bound) > OPTIMAL_GAP * energy):
        status = SolveStatus.FEASIBLE  # stopped at a gap the user allowed: not a proof of optimality
    message = (
        f"approximation (windowed MILP on the exact model's {model.num_cols:,} columns): {raw.note}; the gap is "
        "measured against the plain pass's energy, a proven lower bound"
        if windowed
        else ""
    )
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


def _no_plan_message(status: SolveStatus) -> str:
    return {
        SolveStatus.INFEASIBLE: "no schedule fits these budgets",
        SolveStatus.TIME_LIMIT: "the solver found no plan within the time limit",
        SolveStatus.CANCELLED: "the solve was cancelled before a plan was found",
    }.get(status, "")


# --- HiGHS -----------------------------------------------------------------------------------------

_PROGRESS_EVERY_S = 0.5
#: HiGHS's integrality tolerance. Its default (1e-6) lets a "binary" sit 1e-6 off 0 or 1, which on
#: RAM rows in bytes (coefficients up to ~1e6) is a byte of slack per variable: on vgg16_cifar / m4 at
#: 30 % of the plain peak HiGHS then declared 3.4529137 J optimal although 3.4528987 J satisfies the
#: model (found by the literal model; benchmarks/RESULTS.md). At 1e-9 it finds and proves the latter.
INTEGRALITY_TOLERANCE = 1e-9
_banner_lock = threading.Lock()
_banner_done = False


def _new_highs():
    """A fresh ``highspy.Highs`` with logging off.

    HiGHS prints its banner on C-level stdout from the first constructor in a process, before any
    option can be set, which would corrupt ``--json`` output; the first construction therefore runs
    with file descriptor 1 pointed at /dev/null (later ones print nothing).
    """
    import highspy

    global _banner_done
    with _banner_lock:
        if _banner_done:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_done = True
    h.setOptionValue("output_flag", False)
    return h


def _solve_highs(
    model: MilpModel,
    options: SolverOptions,
    cancel: threading.Event | None,
    on_progress: ProgressCallback | None,
    started: float,
    start: Decisions | None,
) -> _RawResult:
    import highspy

    last_report = [0.0]

    def report(event) -> None:  # runs on HiGHS's thread
        out = event.data_out
        inc, bnd = out.mip_primal_bound, out.mip_dual_bound
        last_report[0] = time.perf_counter()
        on_progress(
            Progress(
                last_report[0] - started,
                model.energy_j(inc) if math.isfinite(inc) else None,
                model.energy_j(bnd) if math.isfinite(bnd) else None,
            )
        )

    def interrupt(event) -> None:
        """Called often during branch and bound: honour a cancel, and report the bound twice a second."""
        if cancel is not None and cancel.is_set():
            event.interrupt()
        elif on_progress is not None and time.perf_counter() - last_report[0] > _PROGRESS_EVERY_S:
            report(event)

    start_values = None if start is None else model.start_vector(start)

    def run(*, presolve: bool, time_limit_s: float):
        h = _configured_highs(model, options, time_limit_s, start_values, presolve=presolve)
        if on_progress is not None:
            h.cbMipImprovingSolution.subscribe(report)
        if on_progress is not None or cancel is not None:
            h.cbMipInterrupt.subscribe(interrupt)
        h.run()
        return h

    ms = highspy.HighsModelStatus
    understood = (ms.kOptimal, ms.kTimeLimit, ms.kInterrupt, ms.kIterationLimit, ms.kSolutionLimit)
    h = run(presolve=True, time_limit_s=options.time_limit_s)
    status = h.getModelStatus()
    remaining = options.time_limit_s - (time.perf_counter() - started)
    if status not in understood and remaining > 0 and not (cancel is not None and cancel.is_set()):
        # HiGHS 1.16's presolve can call a feasible model infeasible or stop with "Solve error" on
        # small graphs with several 0-FLOP nodes (found by tests/core/test_milp_random.py; CBC and
        # HiGHS without presolve agree on the optimum), so such an answer is re-checked without it.
        h = run(presolve=False, time_limit_s=remaining)
        status = h.getModelStatus()
    info = h.getInfo()
    has_solution = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value) if has_solution else None
    bound = info.mip_dual_bound if model.is_integer.any() else info.objective_function_value
    if status == ms.kOptimal:
        return _RawResult(SolveStatus.OPTIMAL, x, bound)
    if status == ms.kInfeasible:
        return _RawResult(SolveStatus.INFEASIBLE, None, None)
    if status in understood:
        if x is not None:
            return _RawResult(SolveStatus.FEASIBLE, x, bound)
        cancelled = cancel is not None and cancel.is_set()
        return _RawResult(SolveStatus.CANCELLED if cancelled else SolveStatus.TIME_LIMIT, None, bound)
    raise SolveError(f"HiGHS stopped with status {h.modelStatusToString(status)!r}")


def _solve_windowed(
    model: MilpModel,
    options: SolverOptions,
    cancel: threading.Event | None,
    on_progress: ProgressCallback | None,
    started: float,
    start: Decisions,
) -> _RawResult:
    """The windowed approximation (:func:`milp_window.sweep_windows`) with HiGHS on each window.

    No bound better than the plain pass's energy is claimed: the full LP relaxation of a model
    this size takes longer than the sweep itself.
    """
    import highspy

    def canonical(x: np.ndarray) -> np.ndarray:
        mats = model.decisions_from(x)
        return model.start_vector(Decisions.of(*(mats[f] for f in Family)))

    def solve_window(sub: SparseMilp, x0: np.ndarray, limit_s: float) -> np.ndarray | None:
        h = _configured_highs(sub, options, limit_s, x0)
        if cancel is not None:
            h.cbMipInterrupt.subscribe(lambda event: event.interrupt() if cancel.is_set() else None)
        h.run()
        if h.getInfo().primal_solution_status != highspy.SolutionStatus.kSolutionStatusFeasible:
            return None
        return np.asarray(h.getSolution().col_value)

    def improved(x: np.ndarray) -> None:
        if on_progress is not None:
            energy = model.energy_j(float(model.cost @ x) + model.objective_offset)
            on_progress(Progress(time.perf_counter() - started, energy, model.problem.plain_energy_j))

    x0 = model.start_vector(start)
    remaining = options.time_limit_s - (time.perf_counter() - started)
    result = sweep_windows(
        model, x0, solve_window, time_limit_s=remaining, cancel=cancel, on_improved=improved, canonical=canonical
    )
    if result.windows_improved:
        note = f"{result.windows_improved} of {result.windows_solved} re-optimised windows improved the heuristic plan"
    else:
        note = f"none of {result.windows_solved} re-optimised windows improved the heuristic plan, which is shown"
    if result.cancelled:
        note += " (cancelled)"
    return _RawResult(SolveStatus.FEASIBLE, result.x, None, note)


def _configured_highs(
    milp: SparseMilp, options: SolverOptions, time_limit_s: float, start: np.ndarray | None, *, presolve: bool = True
):
    """A HiGHS instance holding ``milp`` with this project's settings and, if given, a MIP start."""
    import highspy

    h = _new_highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(options.rel_gap))
    h.setOptionValue("threads", int(options.threads))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_feasibility_tolerance", INTEGRALITY_TOLERANCE)
    h.setOptionValue("presolve", "on" if presolve else "off")
    h.passModel(_highs_lp(milp, highspy))
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = start
        solution.value_valid = True
        h.setSolution(solution)
    return h


def _highs_lp(model: SparseMilp, highspy):
    lp = highspy.HighsLp()
    lp.num_col_ = model.num_cols
    lp.num_row_ = model.num_rows
    lp.col_cost_ = model.cost
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = model.col_upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    lp.offset_ = model.objective_offset
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = model.num_cols
    lp.a_matrix_.num_row_ = model.num_rows
    lp.a_matrix_.start_ = model.row_start
    lp.a_matrix_.index_ = model.col_index
    lp.a_matrix_.value_ = model.value
    kind = highspy.HighsVarType
    lp.integrality_ = [kind.kInteger if b else kind.kContinuous for b in model.is_integer]
    return lp


def write_lp(model: MilpModel, path: Path) -> None:
    """Write the model with readable names (``R[t][node]`` …), for inspection in any LP viewer."""
    import highspy

    h = _new_highs()
    lp = _highs_lp(model, highspy)
    lp.col_names_ = list(model.col_names)
    h.passModel(lp)
    h.writeModel(str(path))


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
