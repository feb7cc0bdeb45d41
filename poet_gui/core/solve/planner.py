"""One entry point for "plan this problem": solve, then verify with the simulator, then explain.

The CLI and the app both come through here, so no plan reaches a user without having been replayed
by the independent simulator, and every "no plan" carries a reason a user can act on.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from poet_gui.core.errors import ScheduleError, SolveCancelled
from poet_gui.core.schedule.device_fit import DeviceFit, device_fit
from poet_gui.core.schedule.operations import build_operations
from poet_gui.core.schedule.plan import Plan, SolveStatus
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.schedule.reference_points import ReferencePoints, plain_decisions, reference_points
from poet_gui.core.schedule.simulate import SimResult, simulate
from poet_gui.core.solve.heuristics import best_heuristic_plan
from poet_gui.core.solve.milp import ProgressCallback, SolverOptions, solve_milp

#: Relative tolerance between a plan's own energy and the simulator's (float summation order only).
_ENERGY_RTOL = 1e-9


@dataclass(frozen=True)
class VerifiedPlan:
    """A plan, the simulator's measurement of it (None when there is no schedule), and the problem's
    reference points. ``sim`` is what the app plots and what files export."""

    plan: Plan
    sim: SimResult | None
    reference: ReferencePoints

    @property
    def is_verified(self) -> bool:
        return self.sim is not None

    @property
    def fit(self) -> DeviceFit:
        """Whether the plan's activations and the parameters fit the device's whole RAM: "verified"
        holds for the budget given, and this says whether that budget was physically possible."""
        p = self.plan.problem
        return device_fit(p.profile, None if self.sim is None else self.sim.peak_ram_bytes, p.costs.param_bytes)


def verify(plan: Plan) -> SimResult:
    """Replay ``plan`` in the simulator and cross-check its energy; raise :class:`ScheduleError` if
    the schedule is invalid or its figures disagree with the strategy's."""
    if plan.decisions is None:
        raise ScheduleError(f"the plan has no schedule ({plan.status.value})")
    sim = simulate(plan.problem, build_operations(plan.problem.graph, plan.decisions))
    if plan.energy_j is not None and not math.isclose(sim.energy_j, plan.energy_j, rel_tol=_ENERGY_RTOL):
        raise ScheduleError(
            f"the simulator measures {sim.energy_j:.12g} J but the {plan.strategy} plan claims "
            f"{plan.energy_j:.12g} J: this is a bug, please report it"
        )
    return sim


#: Most of the time limit the heuristics may take: the chain-recomputing greedy takes seconds on a
#: big graph with a tight budget (resnet_50/m4/h0.1: 6 s), time the solver then lacks.
HEURISTIC_SHARE = 0.2
#: Least time the solver is given after the heuristics, however long they took: enough for the
#: eviction bound's shortcut on a small model, and never a zero limit, which some phases read as none.
MIN_SOLVER_TIME_S = 0.1


def plan_problem(
    problem: Problem,
    options: SolverOptions = SolverOptions(),
    *,
    cancel: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    on_interim: Callable[[VerifiedPlan], None] | None = None,
) -> VerifiedPlan:
    """Solve ``problem`` exactly (within ``options``), verify the result and explain any "no plan".

    ``on_interim`` receives each heuristic plan cheaper than the ones before it, verified, before the
    solver starts, so an interactive caller can show a plan at once; the solver's answer is the
    return value.
    """
    ref = reference_points(problem)
    started = time.perf_counter()
    impossible = _obviously_infeasible(problem, ref)
    if impossible:
        plan = Plan(
            problem,
            SolveStatus.INFEASIBLE,
            f"milp-{options.solver.value}",
            None,
            solve_s=time.perf_counter() - started,
            message=impossible,
        )
        return VerifiedPlan(plan, None, ref)
    if _plain_fits(problem, ref):
        # Every schedule computes every node at least once, so the plain pass's energy is a lower
        # bound; when the plain schedule fits both budgets it attains it: optimal, no solver needed.
        plan = Plan(
            problem,
            SolveStatus.OPTIMAL,
            "plain",
            plain_decisions(problem.graph),
            energy_j=ref.plain_energy_j,
            bound_j=ref.plain_energy_j,
            solve_s=time.perf_counter() - started,
            message="the plain schedule fits the budgets, so it is optimal",
        )
        return VerifiedPlan(plan, verify(plan), ref)
    # Each heuristic plan cheaper than the ones before it is verified and shown, if anyone is
    # listening; otherwise only the best is verified.
    shown: list[VerifiedPlan] = []

    def on_better(plan: Plan) -> None:
        shown.append(VerifiedPlan(plan, verify(plan), ref))
        if on_interim is not None:
            on_interim(shown[-1])

    try:
        share = HEURISTIC_SHARE * options.time_limit_s
        quick = best_heuristic_plan(
            problem, cancel=cancel, time_limit_s=share, on_better=None if on_interim is None else on_better
        )
    except SolveCancelled:
        plan = Plan(problem, SolveStatus.CANCELLED, f"milp-{options.solver.value}", None,
                    solve_s=time.perf_counter() - started, message="cancelled")  # fmt: skip
        return VerifiedPlan(plan, None, ref)
    if shown:
        quick_result: VerifiedPlan | None = shown[-1]
    else:
        quick_result = None if quick is None else VerifiedPlan(quick, verify(quick), ref)
    # The time limit bounds the whole solve: the heuristics and their check (0.9 s on an 869-node
    # graph, which made a 30 s solve take 32 s) come out of it.
    left = replace(options, time_limit_s=max(MIN_SOLVER_TIME_S, options.time_limit_s - (time.perf_counter() - started)))
    plan = solve_milp(
        problem, left, cancel=cancel, on_progress=on_progress, start=None if quick is None else quick.decisions
    )
    if plan.status is SolveStatus.INFEASIBLE:
        if quick_result is not None:  # the solver contradicts a schedule the simulator accepted
            return _fallback(quick_result, plan, "the solver reported no schedule, but this verified one exists")
        plan = replace(plan, message=_infeasible_message(problem, ref))
    elif plan.decisions is None and quick_result is not None:
        why = plan.message or f"the solver found no better plan in time ({plan.status.value})"
        return _fallback(quick_result, plan, why)
    elif quick is not None and quick_result is not None and (plan.energy_j or 0.0) > (quick.energy_j or 0.0):
        # HiGHS may drop a start it judges infeasible within its tolerances; never show a worse plan.
        return _fallback(quick_result, plan, "the heuristic plan beats the solver's incumbent")
    try:
        sim = verify(plan) if plan.decisions is not None else None
    except ScheduleError as exc:
        if quick_result is None:
            raise
        # A solver plan rounded from values within its tolerances can break a rule by a hair; the
        # verified heuristic plan is shown instead, and the reason is not hidden.
        return _fallback(quick_result, plan, f"the solver's plan failed verification ({exc})")
    return VerifiedPlan(plan, sim, ref)


def _fallback(quick: VerifiedPlan, solver_plan: Plan, why: str) -> VerifiedPlan:
    """Keep the heuristic plan, with the solver's proven bound (if any) so its gap is still honest."""
    plan = replace(
        quick.plan,
        status=SolveStatus.FEASIBLE,
        bound_j=solver_plan.bound_j if solver_plan.bound_j is not None else quick.plan.problem.plain_energy_j,
        solve_s=solver_plan.solve_s,
        message=f"{quick.plan.strategy} heuristic plan: {why}",
    )
    return VerifiedPlan(plan, quick.sim, quick.reference)


def _plain_fits(problem: Problem, ref: ReferencePoints) -> bool:
    return problem.activation_budget_bytes >= ref.plain_peak_ram_bytes and problem.runtime_factor >= 1.0


def _obviously_infeasible(problem: Problem, ref: ReferencePoints) -> str:
    """A reason no schedule can exist that needs no solver, or "" (then the MILP decides)."""
    if problem.activation_budget_bytes < ref.min_ram_bytes:
        return _ram_message(problem, ref)
    if problem.runtime_factor < 1.0:
        return (
            f"the runtime budget ({problem.runtime_factor:g}x) is below one plain pass (1.0x): every "
            "node must be computed at least once"
        )
    return ""


def _ram_message(problem: Problem, ref: ReferencePoints) -> str:
    need = ref.min_ram_bytes
    if problem.switches.budget_includes_params:
        need += ref.param_bytes
        return (
            f"this model needs at least {need:,.0f} B of RAM ({ref.param_bytes:,.0f} B of parameters "
            f"+ {ref.min_ram_bytes:,.0f} B for its largest step); "
            f"the budget is {problem.ram_budget_bytes:,.0f} B"
        )
    return (
        f"this model needs at least {need:,.0f} B of RAM for activations (its largest step: a node's "
        f"output plus its inputs); the budget is {problem.ram_budget_bytes:,.0f} B"
    )


def _infeasible_message(problem: Problem, ref: ReferencePoints) -> str:
    sw = problem.switches
    allowed = [name for name, on in (("paging", sw.paging), ("recomputation", sw.remat)) if not on]
    hint = f"; allowing {' and '.join(allowed)} may help" if allowed else ""
    return (
        f"no schedule fits {problem.ram_budget_bytes:,.0f} B of RAM within {problem.runtime_factor:g}x the "
        f"plain runtime (the model needs at least {ref.min_ram_bytes:,.0f} B for activations with "
        f"unlimited time){hint}"
    )
