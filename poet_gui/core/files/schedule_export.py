"""Export a verified plan's operation list as CSV: one row per operation, for people and spreadsheets."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.errors import ScheduleError
from poet_gui.core.solve.planner import VerifiedPlan

CSV_COLUMNS = ("step", "stage", "action", "node", "name", "op", "bytes", "ram_after_bytes", "time_after_s")


def operations_csv(result: VerifiedPlan) -> str:
    """The CSV text; ``action`` is ``compute``, ``recompute``, ``page out``, ``page in`` or ``free``."""
    if result.sim is None:
        raise ScheduleError(f"the plan has no schedule to export ({result.plan.status.value})")
    problem = result.plan.problem
    nodes, sizes = problem.graph.nodes, problem.costs.ram_bytes
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    sim = result.sim
    for k, op in enumerate(sim.operations):
        node = nodes[op.node]
        action = "recompute" if op.is_recompute else op.action.value
        writer.writerow((k, op.stage, action, op.node, node.name, node.op, int(sizes[op.node]),
                         int(sim.ram_bytes[k]), f"{sim.time_s[k]:.9g}"))  # fmt: skip
    return out.getvalue()


def write_operations_csv(result: VerifiedPlan, path: Path) -> None:
    """Write :func:`operations_csv` to ``path`` atomically."""
    write_text_atomic(path, operations_csv(result))
