"""The key figures of a verified plan, formatted for people, and their differences between two plans.

The pinned-plans list and the compare view show the same figures in the same words and units, so they
are defined once here. Every measured figure comes from the simulator's ``SimResult``, never from a
solver's claim.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from poet_gui.core.device.units import format_bytes, format_energy, format_factor, format_gap, format_seconds
from poet_gui.core.solve.planner import VerifiedPlan


def unbroken(text: str) -> str:
    """``text`` with non-breaking spaces, for a word-wrapped label: a number never wraps away from its
    unit ("2.34 / MiB" at a line end)."""
    return text.replace(" ", "\u00a0")


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure: how to read it off a plan (None when the plan has no schedule) and show it.

    ``is_relative`` figures show their difference as a percentage too (a 2 µJ change means nothing
    without the total); counts show a plain signed difference.
    """

    label: str
    value: Callable[[VerifiedPlan], float | None]
    show: Callable[[float], str]
    is_relative: bool
    tip: str


def _sim(get: Callable[..., float]) -> Callable[[VerifiedPlan], float | None]:
    return lambda r: None if r.sim is None else float(get(r.sim))


def _count(n: float) -> str:
    return f"{n:,.0f}"


FIGURES: tuple[Figure, ...] = (
    Figure("Energy", _sim(lambda s: s.energy_j), format_energy, True, "Energy of one training step (simulated)"),
    Figure("Runtime", _sim(lambda s: s.runtime_s), format_seconds, True, "Compute plus paging time of one step"),
    Figure("Peak RAM", _sim(lambda s: s.peak_ram_bytes), format_bytes, True, "Most RAM in use at any operation"),
    Figure("Recomputes", _sim(lambda s: s.recomputes), _count, False, "Computes beyond each node's first"),
    Figure("Page-ins", _sim(lambda s: s.pageins), _count, False, "Tensors read back from storage"),
    Figure("Page-outs", _sim(lambda s: s.pageouts), _count, False, "Tensors written to storage"),
)

#: What the plan was asked for: shown next to the measured figures when two plans are compared.
BUDGET_FIGURES: tuple[Figure, ...] = (
    Figure("RAM budget", lambda r: r.plan.problem.ram_budget_bytes, format_bytes, True, "RAM the plan may use"),
    Figure("Runtime budget", lambda r: r.plan.problem.runtime_factor, format_factor, False, "In plain passes"),
)


def status_text(result: VerifiedPlan) -> str:
    """ "optimal", "feasible", "infeasible", ...: what is known about the plan's quality."""
    return result.plan.status.value


def gap_text(result: VerifiedPlan) -> str:
    """The proven gap to the optimum as a percentage, "—" when no bound is known."""
    gap = result.plan.gap
    return "—" if gap is None else format_gap(gap)


def inputs_text(result: VerifiedPlan) -> str:
    """What the plan was made for, in one line: model, device, RAM budget and runtime budget."""
    p = result.plan.problem
    return f"{p.graph.name} · {p.profile.key} · {format_bytes(p.ram_budget_bytes)} · {format_factor(p.runtime_factor)}"


def switches_text(result: VerifiedPlan) -> str:
    """The switches that differ from a plain POET run, in words ("no paging, paging time counted")."""
    sw = result.plan.problem.switches
    words = [
        "paging" if sw.paging else "no paging",
        "recomputation" if sw.remat else "no recomputation",
    ]
    if sw.count_paging_time:
        words.append("paging time counted")
    if sw.budget_includes_params:
        words.append("budget includes parameters")
    return ", ".join(words)


def difference_text(figure: Figure, a: float | None, b: float | None) -> str:
    """``b - a`` with its sign ("+1.2 µJ (+0.8%)", "-3", "same"), "—" if either plan lacks the figure."""
    if a is None or b is None:
        return "—"
    delta = b - a
    if delta == 0 or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0):
        return "same"
    sign = "+" if delta > 0 else "-"
    text = f"{sign}{figure.show(abs(delta))}"
    if figure.is_relative and a != 0:
        text += f" ({sign}{abs(delta) / abs(a):.1%})"
    return text
