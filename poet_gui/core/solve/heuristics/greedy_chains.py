"""The greedy eviction of :mod:`greedy`, where a recompute may also recompute the inputs that
nothing reads after it, back to tensors still in RAM; in two variants.

Why: in an autodiff graph a forward tensor often dies at its consumer, because the consumer's
gradient reads the consumer's output (a ReLU's, a softmax's) rather than its input. Plain greedy
then cannot recompute that consumer later (its input would have to be kept, undoing the eviction)
and pages it instead. On the microcontroller profiles, where a page costs several times a recompute,
that is the difference between 3.7x and 1.4x the plain pass's energy (transformer_1x16/m4/h0.1,
benchmarks/REAL.md).

Every chain touches many tensors, though, so few evictions fit in one round of :mod:`greedy`'s
batches, and a tight budget on a big graph takes many rounds (resnet_50/m4/h0.1: 249 layouts
measured in 6 s, against plain greedy's 2 in 0.1 s). ``greedy_chains_batched`` lets a batch skip
past such conflicts: it measures far fewer layouts (8 there, 0.1 s) and takes dearer evictions,
which is sometimes better (there: 1.49x against 1.76x) and often worse (the transformer above:
1.95x). Both run, the batched one first, and the cheapest plan of all strategies wins
(:func:`~poet_gui.core.solve.heuristics.best_heuristic_plan`).
"""

from __future__ import annotations

import threading

from poet_gui.core.schedule.plan import Plan
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.heuristics import greedy
from poet_gui.core.solve.milp import ProgressCallback

NAME = "greedy_chains"
BATCHED_NAME = "greedy_chains_batched"


def solve(
    problem: Problem, *, cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None
) -> Plan:
    """Greedy eviction whose recomputes bring their dead inputs back by recomputing them too."""
    return greedy.search(problem, NAME, cancel=cancel, on_progress=on_progress, recompute_dead=True)


def solve_batched(
    problem: Problem, *, cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None
) -> Plan:
    """:func:`solve` with batches that skip past conflicting offers: fewer rounds, dearer choices."""
    return greedy.search(
        problem, BATCHED_NAME, cancel=cancel, on_progress=on_progress, recompute_dead=True, batch_past_conflicts=True
    )
