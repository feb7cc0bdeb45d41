"""Turn a plan's decision matrices into the ordered operation list a person or an executor reads.

Within stage ``t``:

1. page out what the stage writes to storage (the tensor is in RAM at the stage start);
2. compute each node the stage computes, in stage order; after each compute (and once at the stage
   start) free every tensor in RAM that no later compute of the stage reads and the next stage does
   not keep. RAM right after a compute holds the node's output *and* its inputs — the step's
   working set, which is what the MILP bounds (FORMULATION §4.5 frees inputs one step later);
3. at the stage end, page in what the next stage needs from storage (a page-in occupies RAM from the
   next stage on, as in the reference).

Freeing as soon as a tensor is dead never holds more than the MILP's accounting, so a plan within
budget in the MILP is within budget here; the simulator checks it independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from poet_gui.core.graph import TrainingGraph
from poet_gui.core.plan import Decisions


class Action(StrEnum):
    """One kind of operation in a schedule."""

    COMPUTE = "compute"
    PAGE_OUT = "page out"
    PAGE_IN = "page in"
    FREE = "free"


@dataclass(frozen=True, slots=True)
class Operation:
    """One step of a schedule: ``action`` applied to node ``node``'s tensor during stage ``stage``.

    ``is_recompute`` marks a compute of a node already computed in an earlier stage.
    """

    stage: int
    action: Action
    node: int
    is_recompute: bool = False


def prune_redundant(d: Decisions) -> Decisions:
    """Drop operations that cannot change the outcome of a schedule.

    The MILP may recompute a tensor that is already in RAM (free for a 0-FLOP input node, and the
    model's accounting then counts it twice) or page in a tensor that is in RAM or not kept: a solver
    is indifferent to zero-cost waste, and a time-limited incumbent may hold costly waste. Removing it
    keeps every input present and never raises RAM use, and the plan's figures describe what runs.
    """
    n = d.compute.shape[0]
    compute = d.compute & ~d.resident
    compute[np.arange(n), np.arange(n)] = True
    page_in = d.page_in.copy()
    page_in[:-1] &= d.resident[1:] & ~(d.resident[:-1] | compute[:-1])
    page_in[-1] = False
    return Decisions.of(compute, d.resident, d.stored, page_in, d.page_out)


def build_operations(graph: TrainingGraph, d: Decisions) -> tuple[Operation, ...]:
    """The operation list of ``d`` (see the module docstring for the order within a stage)."""
    n = len(graph)
    ops: list[Operation] = []
    for t in range(n):
        computed = np.flatnonzero(d.compute[t]).tolist()
        keep_next = d.resident[t + 1] if t + 1 < n else np.zeros(n, dtype=bool)
        # last_read[x]: position in `computed` of the last compute of this stage that reads x.
        last_read: dict[int, int] = {}
        for pos, k in enumerate(computed):
            for u in graph.nodes[k].inputs:
                last_read[u] = pos
        ops.extend(Operation(t, Action.PAGE_OUT, int(i)) for i in np.flatnonzero(d.page_out[t]))
        in_ram = set(np.flatnonzero(d.resident[t]).tolist())

        def free_dead(
            pos: int,
            stage: int = t,
            ram: set[int] = in_ram,
            lr: dict[int, int] = last_read,
            keep: np.ndarray = keep_next,
        ) -> None:
            for x in sorted(ram):
                if lr.get(x, -1) <= pos and not keep[x]:
                    ops.append(Operation(stage, Action.FREE, x))
                    ram.discard(x)

        if t + 1 < n:
            free_dead(-1)
        for pos, k in enumerate(computed):
            if k in in_ram:
                continue  # already there: nothing to compute (see prune_redundant)
            ops.append(Operation(t, Action.COMPUTE, k, is_recompute=k < t))
            in_ram.add(k)
            if t + 1 < n:
                free_dead(pos)
        if t + 1 < n:
            ops.extend(Operation(t, Action.PAGE_IN, int(i)) for i in np.flatnonzero(d.page_in[t]))
    return tuple(ops)
