"""The plain schedule: each node computed once in its own stage, each tensor kept until its last use.

It costs exactly one plain pass (the least energy and runtime any schedule can have), so it is the
answer whenever it fits; it is also the yardstick the other strategies start from.
"""

from __future__ import annotations

import threading
import time

from poet_gui.core.schedule.plan import Plan
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.schedule.reference_points import plain_decisions
from poet_gui.core.solve.heuristics._build import (
    check_cancel,
    finish,
    no_plan,
    out_of_reach,
)
from poet_gui.core.solve.milp import ProgressCallback

NAME = "keep_all"


def solve(
    problem: Problem, *, cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None
) -> Plan:
    """The plain schedule if it fits both budgets, else INFEASIBLE with the simulator's reason."""
    started = time.perf_counter()
    check_cancel(cancel, NAME)
    if why := out_of_reach(problem):
        return no_plan(problem, NAME, started, why)
    return finish(problem, NAME, plain_decisions(problem.graph), started, on_progress)
