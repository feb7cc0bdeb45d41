"""A planning problem: one graph on one device under a RAM budget and a runtime budget.

Everything a strategy needs is here, already validated, so strategies never re-check inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from poet_gui.core.device.costs import NodeCosts, compute_costs
from poet_gui.core.device.profiles import DeviceProfile
from poet_gui.core.errors import PoetError
from poet_gui.core.model.graph import TrainingGraph


@dataclass(frozen=True, slots=True)
class Switches:
    """What the planner may do, and what the budgets cover.

    The defaults match the reference implementation (FORMULATION §5) so our optima are comparable:
    paging time is not charged to the runtime budget and parameters are not part of the RAM budget.
    """

    paging: bool = True
    remat: bool = True
    count_paging_time: bool = False
    budget_includes_params: bool = False


@dataclass(frozen=True)
class Problem:
    """A validated planning problem; build it with :func:`make_problem`."""

    graph: TrainingGraph
    profile: DeviceProfile
    costs: NodeCosts
    ram_budget_bytes: float
    runtime_factor: float
    switches: Switches = Switches()

    @cached_property
    def plain_runtime_s(self) -> float:
        """Compute time of one plain forward+backward pass: the unit of the runtime budget."""
        return float(self.costs.runtime_s.sum())

    @cached_property
    def plain_energy_j(self) -> float:
        """Compute energy of one plain pass: no schedule can cost less."""
        return float(self.costs.compute_j.sum())

    @property
    def runtime_budget_s(self) -> float:
        """The runtime budget in seconds (``runtime_factor`` plain passes)."""
        return self.runtime_factor * self.plain_runtime_s

    @property
    def activation_budget_bytes(self) -> float:
        """RAM available to activations and gradients (the MILP's budget).

        With ``budget_includes_params`` the budget is the device's whole RAM, so the parameters'
        bytes are taken off first; otherwise parameters are accounted for separately.
        """
        if self.switches.budget_includes_params:
            return self.ram_budget_bytes - self.costs.param_bytes
        return self.ram_budget_bytes


def make_problem(
    graph: TrainingGraph,
    profile: DeviceProfile,
    *,
    ram_budget_bytes: float,
    runtime_factor: float,
    switches: Switches = Switches(),
) -> Problem:
    """Validate the budgets and bundle them with the costs of ``graph`` on ``profile``.

    A budget must be a finite positive number; whether it is *enough* is the solver's question,
    answered with "infeasible" and the least RAM the model needs, not an error here.
    """
    _check_positive("RAM budget (bytes)", ram_budget_bytes)
    _check_positive("runtime budget (factor of one plain pass)", runtime_factor)
    return Problem(
        graph=graph,
        profile=profile,
        costs=compute_costs(graph, profile),
        ram_budget_bytes=float(ram_budget_bytes),
        runtime_factor=float(runtime_factor),
        switches=switches,
    )


def _check_positive(what: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PoetError(f"{what} must be a finite number, got {value!r}")
    if value <= 0:
        raise PoetError(f"{what} must be > 0, got {value!r}")
