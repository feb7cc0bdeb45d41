"""The banner and status-bar text of the main window, as pure functions of the session: what the user
reads about the plan on show (or the solve under way) is decided here, not in the window's wiring."""

from __future__ import annotations

import re

from poet_gui.core.device.units import format_bytes, format_energy, format_factor, format_gap, format_overhead
from poet_gui.core.schedule.device_fit import device_name
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.ui.plan_figures import unbroken
from poet_gui.ui.state import Session, SolvePhase

#: A figure and its byte unit, kept on one line when a sentence around them wraps.
_FIGURE_UNIT = re.compile(r"(\d) (B|KiB|MiB|GiB)\b")

#: Said beside a plan that pages while its runtime budget leaves paging time out (as the reference does).
_PAGING_NOT_CHARGED = " (paging time not charged to the budget)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _budgets(ram_bytes: float, factor: float) -> str:
    return unbroken(f"{format_bytes(ram_bytes)} · {format_factor(factor)}")


def banner_text(session: Session) -> str:
    """The banner's sentence: why there is no plan, or that the plan on show is for other inputs;
    empty when the plan on show answers the current inputs."""
    result = session.result
    text = ""
    if not session.plan_is_current() and session.phase is not SolvePhase.FAILED:
        p = result.plan.problem
        old, new = (
            _budgets(p.ram_budget_bytes, p.runtime_factor),
            _budgets(session.ram_budget_bytes, session.runtime_factor),
        )
        if p.switches != session.switches:
            old += " (other switches)"
        then = "is being solved" if session.phase is SolvePhase.SOLVING else "follows when the budgets settle"
        text = f"Out of date: the plots show the plan for {old}; the plan for {new} {then}."
    elif session.phase is SolvePhase.FAILED:
        text = f"Could not plan: {session.message}"
    elif result is not None and result.sim is None and result.plan.status is SolveStatus.INFEASIBLE:
        text = f"Infeasible: {result.plan.message}."
    elif result is not None and result.sim is None:
        text = f"No plan: {result.plan.message}."
    elif result is not None and result.fit.fits_device is False:
        text = _misfit_text(session)
    return text


def _misfit_text(session: Session) -> str:
    """A verified plan is only as real as its budget: say when activations and parameters together
    overflow the device, and what would make a plan that fits (or that none can)."""
    assert session.result is not None
    p = session.result.plan.problem
    ram = unbroken(format_bytes(p.profile.ram_bytes or 0))
    warning = _FIGURE_UNIT.sub("\\1\u00a0\\2", session.result.fit.warnings[0])
    text = f"Does not fit the device: {warning}. The plan holds for its budget only"
    if p.costs.param_bytes >= (p.profile.ram_bytes or 0):
        device = device_name(p.profile)
        return f"{text}; the parameters alone fill the {device}'s RAM, so no plan for this model fits it."
    if p.switches.budget_includes_params:
        return f"{text}; lower the RAM budget to {ram} or less."
    return f"{text}; count the parameters in a budget of {ram} to plan for the device itself."


def params_budget_offer(session: Session) -> float | None:
    """The RAM budget the banner's "count parameters" action would set: the device's whole RAM, the
    loosest budget that still fits once the parameters are in it (keeping a smaller current budget
    would leave too little for the activations). None when there is nothing to offer: the plan fits,
    the parameters are already counted, or they alone fill the RAM (every such budget is infeasible)."""
    result = session.result
    if result is None or result.fit.fits_device is not False or not session.plan_is_current():
        return None
    p = result.plan.problem
    ram = p.profile.ram_bytes
    if ram is None or p.switches.budget_includes_params or p.costs.param_bytes >= ram:
        return None
    return float(ram)


def status_text(s: Session, elapsed_s: float) -> str:
    """The status bar's line: the solve's progress while it runs (``elapsed_s`` since it started), else the
    plan on show with its honest status and verified figures."""
    result = s.result
    if s.phase is SolvePhase.CANCELLED:
        return _cancelled_text(s, elapsed_s)
    if s.phase is SolvePhase.SOLVING:
        text = f"Solving… {elapsed_s:.1f} s"
        if s.progress is not None and s.progress.incumbent_j is not None:
            text += f" · best plan {format_energy(s.progress.incumbent_j)}"
        if s.progress is not None and s.progress.bound_j is not None:
            text += f" · bound {format_energy(s.progress.bound_j)}"
        if s.progress is not None and s.progress.gap is not None:
            text += f" · gap {format_gap(s.progress.gap)}"
        if result is not None and result.sim is not None:
            shown = "plan" if s.plan_is_current() else "plan for the previous budgets"
            text += f" · showing {result.plan.strategy} {shown} ({format_energy(result.sim.energy_j)})"
    elif not s.plan_is_current():
        p = result.plan.problem
        text = f"Out of date: showing the plan for {_budgets(p.ram_budget_bytes, p.runtime_factor)}"
    elif result is not None and result.sim is not None:
        plan, sim = result.plan, result.sim
        uncharged_paging = bool(sim.pageins or sim.pageouts) and not plan.problem.switches.count_paging_time
        if plan.status is SolveStatus.OPTIMAL:
            quality = "Optimal (proven)"
        elif plan.gap is not None:
            kind = "Approximate (windowed MILP)" if plan.is_approximate else "Feasible"
            quality = f"{kind}, within {format_gap(plan.gap)} of optimal (bound {format_energy(plan.bound_j or 0)})"
        else:
            quality = f"Feasible ({plan.strategy}), gap unknown"
        text = (
            f"{quality} · energy {format_energy(sim.energy_j)} "
            f"({format_overhead(sim.energy_j, s.reference.plain_energy_j)}) · peak "
            f"{format_bytes(sim.peak_ram_bytes)} · {_count(sim.recomputes, 'recompute')}, "
            f"{_count(sim.pageins, 'page-in')}, {_count(sim.pageouts, 'page-out')}"
            f"{_PAGING_NOT_CHARGED if uncharged_paging else ''}"
            " · verified · "
            f"{plan.solve_s:.2f} s"
        )
        if result.fit.fits_device is False:
            text += f" · does not fit the {device_name(plan.problem.profile)}'s RAM"
    elif result is not None:
        text = f"{result.plan.status.value.capitalize()}: {result.plan.message}"
    else:
        text = s.message or "Ready"
    return text


def _cancelled_text(s: Session, elapsed_s: float) -> str:
    """After a cancel, what the solve had learnt stays in sight: how long it ran, the best bound it
    proved, and the plan on show measured against that bound (the solver's own incumbent died with it)."""
    text = f"Cancelled after {elapsed_s:.1f} s"
    bound = s.progress.bound_j if s.progress is not None else None
    if bound is not None:
        text += f" · bound {format_energy(bound)}"
    result = s.result
    if result is not None and result.sim is not None:
        energy = result.sim.energy_j
        text += f" · showing {result.plan.strategy} plan ({format_energy(energy)}"
        if bound is not None and energy > 0:
            text += f", within {format_gap(max(0.0, (energy - bound) / energy))} of the bound"
        text += "), verified"
    return text + " · Ctrl+R solves again"
