"""Turn a plan's decision matrices into the ordered operation list a person or an executor reads.

The order reproduces the MILP's memory accounting (FORMULATION §4.5) exactly, so RAM measured by the
simulator along the list equals the MILP's ``U`` and any schedule the simulator accepts is a
feasible MILP solution (which is what lets a heuristic plan seed the solver). Within stage ``t``:

1. page out what the stage writes to storage (the tensor is in RAM at the stage start);
2. for each node ``k`` the stage computes, in stage order: compute ``k``, then free each input of ``k``
   that no later compute of the stage reads and the next stage does not keep. RAM right after a
   compute holds the node's output *and* its inputs: the step's working set;
3. at the stage end, drop what the next stage does not keep, then page in what it needs from storage
   (a page-in occupies RAM from the next stage on, as in the reference).

A compute of a tensor that is already in RAM (the MILP may "recompute" a 0-FLOP input node it also
kept, at no cost) is not performed, but the frees it triggers in the MILP's accounting still happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.schedule.plan import Decisions


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


def prune_redundant(graph: TrainingGraph, d: Decisions) -> Decisions:
    """Drop what costs energy or RAM and changes nothing, which only a time-limited incumbent holds:

    - page-ins of a tensor the next stage does not keep, or that is in RAM at the stage end anyway;
    - page-outs from the last page-in of a tensor on (all of them, if it is never paged in), with the
      storage they fill: measured on resnet_8/m4 at 30 s, a page-out whose page-in was dropped cost
      2.7 % of the plain pass;
    - recomputes whose output no later compute of their stage reads and the next stage does not keep;
    - a tensor in RAM at a stage start that the stage neither reads nor pages out and the next stage
      does not keep (it only waits to be freed).

    Stages are visited from the last, and a stage's recomputes from the latest, so what one removal
    leaves unused is removed too; the passes repeat until nothing changes (a page-out dropped can leave
    the residency it read unused). Nothing is added, so RAM use and runtime never rise and the
    schedule stays a solution of the MILP.
    """
    while True:
        pruned = _pruned_once(graph, d)
        if all(np.array_equal(a, b) for a, b in zip(_matrices(pruned), _matrices(d), strict=True)):
            return pruned
        d = pruned


def _matrices(d: Decisions) -> tuple[np.ndarray, ...]:
    return d.compute, d.resident, d.stored, d.page_in, d.page_out


def _pruned_once(graph: TrainingGraph, d: Decisions) -> Decisions:
    n = len(graph)
    compute, resident = d.compute.copy(), d.resident.copy()
    inputs, successors = [node.inputs for node in graph.nodes], graph.successors
    for t in range(n - 1, -1, -1):
        kept = resident[t + 1] if t + 1 < n else np.zeros(n, dtype=bool)
        for k in np.flatnonzero(compute[t, :t])[::-1]:
            if not kept[k] and not any(compute[t, j] for j in successors[k] if j <= t):
                compute[t, k] = False
        read = np.zeros(n, dtype=bool)
        for j in np.flatnonzero(compute[t]):
            read[list(inputs[j])] = True
        resident[t] &= read | d.page_out[t] | kept
    page_in = d.page_in.copy()
    page_in[:-1] &= resident[1:] & ~(resident[:-1] | compute[:-1])
    page_in[-1] = False
    stages = np.arange(n)[:, None]
    last_in = np.where(page_in.any(axis=0), n - 1 - np.argmax(page_in[::-1], axis=0), -1)
    return Decisions.of(compute, resident, d.stored & (stages <= last_in), page_in, d.page_out & (stages < last_in))


def build_operations(graph: TrainingGraph, d: Decisions) -> tuple[Operation, ...]:
    """The operation list of ``d`` (see the module docstring for the order within a stage)."""
    n = len(graph)
    succ = graph.successors
    ops: list[Operation] = []
    for t in range(n):
        computed = d.compute[t]
        keep_next = d.resident[t + 1] if t + 1 < n else np.zeros(n, dtype=bool)
        ops.extend(Operation(t, Action.PAGE_OUT, int(i)) for i in np.flatnonzero(d.page_out[t]))
        in_ram = set(np.flatnonzero(d.resident[t]).tolist())
        for k in np.flatnonzero(computed).tolist():
            if k not in in_ram:
                ops.append(Operation(t, Action.COMPUTE, k, is_recompute=k < t))
                in_ram.add(k)
            for i in graph.nodes[k].inputs:
                read_later = any(computed[j] for j in succ[i] if j > k)
                if not read_later and not keep_next[i] and i in in_ram:
                    ops.append(Operation(t, Action.FREE, i))
                    in_ram.discard(i)
        if t + 1 < n:
            ops.extend(Operation(t, Action.FREE, i) for i in sorted(in_ram) if not keep_next[i])
            ops.extend(Operation(t, Action.PAGE_IN, int(i)) for i in np.flatnonzero(d.page_in[t]))
    return tuple(ops)
