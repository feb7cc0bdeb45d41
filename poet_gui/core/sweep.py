"""The energy/RAM trade-off: the same problem solved across a grid of budgets.

Shared by the app's trade-off plot and the command line, so both show the same data. Points are
solved independently; each carries its own honest status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from poet_gui.core.planner import VerifiedPlan
from poet_gui.core.reference_points import ReferencePoints


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One solved point: budgets, status and (when there is a plan) its verified figures."""

    ram_budget_bytes: float
    runtime_factor: float
    status: str
    energy_j: float | None
    runtime_s: float | None = None
    peak_ram_bytes: float | None = None
    gap: float | None = None

    @staticmethod
    def of(result: VerifiedPlan) -> SweepPoint:
        p, sim = result.plan, result.sim
        return SweepPoint(
            ram_budget_bytes=p.problem.ram_budget_bytes,
            runtime_factor=p.problem.runtime_factor,
            status=p.status.value,
            energy_j=None if sim is None else sim.energy_j,
            runtime_s=None if sim is None else sim.runtime_s,
            peak_ram_bytes=None if sim is None else sim.peak_ram_bytes,
            gap=p.gap,
        )


def budget_grid(ref: ReferencePoints, count: int, *, top_fraction: float = 1.0) -> tuple[float, ...]:
    """``count`` RAM budgets, geometrically spaced from the least RAM the model needs to
    ``top_fraction`` of the plain peak (whole bytes, ascending, without duplicates)."""
    lo = ref.min_ram_bytes
    hi = max(ref.plain_peak_ram_bytes * top_fraction, lo)
    if count <= 1 or math.isclose(lo, hi):
        return (float(math.ceil(hi)),)
    values = np.unique(np.ceil(np.geomspace(lo, hi, count)))
    return tuple(float(v) for v in values)
