"""The banner and status-bar text of the main window, as pure functions of the session: what the user
reads about the plan on show (or the solve under way) is decided here, not in the window's wiring."""

from __future__ import annotations

from poet_gui.core.device.units import format_bytes, format_energy, format_gap, format_overhead
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.ui.state import Session, SolvePhase


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def banner_text(session: Session) -> str:
    """The banner's sentence: why there is no plan, or empty when there is one."""
    result = session.result
    text = ""
    if session.phase is SolvePhase.FAILED:
        text = f"Could not plan: {session.message}"
    elif result is not None and result.sim is None and result.plan.status is SolveStatus.INFEASIBLE:
        text = f"Infeasible: {result.plan.message}."
    elif result is not None and result.sim is None:
        text = f"No plan: {result.plan.message}."
    return text


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
            text += f" · showing {result.plan.strategy} plan ({format_energy(result.sim.energy_j)})"
    elif result is not None and result.sim is not None:
        plan, sim = result.plan, result.sim
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
            f"{_count(sim.pageins, 'page-in')}, {_count(sim.pageouts, 'page-out')} · verified · "
            f"{plan.solve_s:.2f} s"
        )
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
