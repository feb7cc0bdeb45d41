"""What every strategy returns: the decisions of a schedule, and an honest account of their quality."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from poet_gui.core.device.units import GAP_TOLERANCE
from poet_gui.core.schedule.problem import Problem


class SolveStatus(StrEnum):
    """How good a plan is known to be.

    OPTIMAL is used only when the solver proved it (gap below :data:`OPTIMAL_GAP`); a time-limited
    incumbent is FEASIBLE with its gap and bound, never OPTIMAL.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    TIME_LIMIT = "no plan in time"
    CANCELLED = "cancelled"


#: A relative gap at or below this counts as proven optimal (HiGHS cannot see finer differences).
OPTIMAL_GAP = GAP_TOLERANCE
#: Strategy names ending so are approximations (the windowed MILP), shown and exported as such.
APPROXIMATE_SUFFIX = "-windowed"


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=bool)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, slots=True)
class Decisions:
    """The schedule as ``(T, T)`` boolean matrices indexed ``[stage, node]`` (FORMULATION §4).

    ``compute``: node computed in the stage (the diagonal is always set); ``resident``: in RAM at the
    stage start; ``stored``: in secondary storage at the stage start; ``page_in`` / ``page_out``:
    moved during the stage. Frees are not stored: they follow from these (see ``schedule``).
    """

    compute: np.ndarray
    resident: np.ndarray
    stored: np.ndarray
    page_in: np.ndarray
    page_out: np.ndarray

    @staticmethod
    def of(compute, resident, stored, page_in, page_out) -> Decisions:
        """Build with read-only copies, so a plan can be shared across threads safely."""
        return Decisions(*(_frozen(a) for a in (compute, resident, stored, page_in, page_out)))

    @property
    def performed(self) -> np.ndarray:
        """The computes that actually run: a "recompute" of a tensor already in RAM runs nothing."""
        return self.compute & ~self.resident

    @property
    def recomputes(self) -> int:
        """Computes beyond the first one of each node (free recomputes of input nodes included)."""
        return int(self.performed.sum()) - self.compute.shape[0]

    @property
    def pageins(self) -> int:
        return int(self.page_in.sum())

    @property
    def pageouts(self) -> int:
        return int(self.page_out.sum())


@dataclass(frozen=True)
class Plan:
    """A strategy's answer for one problem.

    ``decisions`` is ``None`` when there is no schedule (infeasible, no plan in time, cancelled).
    ``energy_j`` is recomputed in joules from the 0/1 decisions, never taken from a scaled solver
    objective; ``bound_j`` is a proven lower bound on the optimal energy where one is known.
    ``solver_energy_j`` is the solver's own objective in joules (before redundant operations were
    pruned), kept so verification can cross-check the two.
    """

    problem: Problem
    status: SolveStatus
    strategy: str
    decisions: Decisions | None
    energy_j: float | None = None
    bound_j: float | None = None
    solve_s: float = 0.0
    message: str = ""
    solver_energy_j: float | None = None

    @property
    def gap(self) -> float | None:
        """Relative distance between this plan's energy and the proven bound, or None if unknown."""
        if self.energy_j is None or self.bound_j is None:
            return None
        if self.energy_j <= 0:
            return 0.0
        return max(0.0, (self.energy_j - self.bound_j) / self.energy_j)

    @property
    def has_schedule(self) -> bool:
        return self.decisions is not None

    @property
    def is_approximate(self) -> bool:
        """Made by an approximation (the windowed MILP): its gap is known, optimality is never claimed."""
        return self.strategy.endswith(APPROXIMATE_SUFFIX)


def decisions_energy_j(problem: Problem, d: Decisions) -> tuple[float, float, float]:
    """Energy of a schedule in joules: ``(compute_j, pagein_j, pageout_j)`` (FORMULATION §4.7)."""
    c = problem.costs
    return (
        float(d.performed.sum(axis=0) @ np.asarray(c.compute_j)),
        float(d.page_in.sum(axis=0) @ np.asarray(c.pagein_j)),
        float(d.page_out.sum(axis=0) @ np.asarray(c.pageout_j)),
    )
