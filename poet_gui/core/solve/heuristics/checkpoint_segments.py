"""Chen et al. 2016 ("Training deep nets with sublinear memory cost"): keep every k-th forward
activation, recompute the rest from the nearest kept one when the backward pass needs them.

In the stage model: a forward tensor that is not a checkpoint is kept while the forward pass uses it
(skip connections included) and dropped at the forward/backward boundary; the first backward stage that
needs it recomputes it, which needs its own input there, and so on down to the last checkpoint. Each
segment is thus recomputed once, bottom-up, in the backward stage that enters it, and kept until its
gradients have used it. Checkpoints and gradients are kept whole. RAM then holds about ``F/k``
checkpoints plus one segment of ``k`` (``F`` forward nodes), least near ``k = sqrt(F)``, so lengths
past ``2 sqrt(F) + 2`` are not tried.

Which tensors are checkpoints decides the energy: every non-checkpoint is recomputed once, and a
convolution costs far more to recompute than the ReLU after it. So each length is tried at several
alignments (all of them for short segments, where the choice within a conv / batch norm / ReLU run
matters most), and the candidates are measured in order of their recompute energy: the first one
that fits is the cheapest, up to the few tensors that turn out not to need a recompute (so the
search goes on while a candidate could still beat it).
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from poet_gui.core.schedule.plan import Plan
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.heuristics._build import (
    Gap,
    Layout,
    Levels,
    build_layout,
    check_cancel,
    finish,
    fits,
    free_nodes,
    measure,
    no_plan,
    out_of_reach,
    shortfall,
    to_decisions,
)
from poet_gui.core.solve.milp import ProgressCallback

NAME = "checkpoint_segments"

#: Segments up to this length are tried at every alignment; longer ones at four.
_ALL_OFFSETS_UP_TO = 6


def solve(
    problem: Problem, *, cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None
) -> Plan:
    """The cheapest checkpointing (over segment lengths and alignments) that fits both budgets."""
    started = time.perf_counter()
    if why := out_of_reach(problem):
        return no_plan(problem, NAME, started, why)
    if not problem.switches.remat:
        return no_plan(problem, NAME, started, "it recomputes activations, and recomputation is switched off")
    g = problem.graph
    is_backward = [node.is_backward for node in g.nodes]
    forward = np.array([i for i in range(len(g)) if not is_backward[i]])
    free = free_nodes(problem)
    # Recompute energy of the non-checkpoints, the same for every alignment until chosen.
    recompute_j = np.where(free[forward], 0.0, np.asarray(problem.costs.compute_j)[forward])
    candidates = sorted(
        (float(recompute_j.sum() - recompute_j[offset::k].sum()), k, offset)
        for k in range(1, min(len(forward), 2 * math.isqrt(len(forward)) + 2) + 1)
        for offset in _offsets(k)
    )
    best: tuple[float, Layout] | None = None
    misses: list[Levels] = []
    for estimate_j, k, offset in candidates:
        if best is not None and problem.plain_energy_j + estimate_j >= best[0]:
            break
        check_cancel(cancel, NAME)
        checkpoints = set(forward[offset::k].tolist())

        def rule(i: int, b: int, a: int, kept: set[int] = checkpoints) -> Gap:
            if i in kept or is_backward[i] or is_backward[b] or not is_backward[a]:
                return Gap.KEEP
            return Gap.REMAT

        layout = build_layout(problem, rule)
        levels = measure(problem, layout)
        if fits(problem, levels):
            if best is None or levels.energy_j < best[0]:
                best = (levels.energy_j, layout)
        else:
            misses.append(levels)
    if best is not None:
        return finish(problem, NAME, to_decisions(len(g), best[1]), started, on_progress)
    closest = min(misses, key=lambda levels: levels.worst_stage()[1])  # every candidate missed
    return no_plan(problem, NAME, started, shortfall(problem, closest))


def _offsets(k: int) -> list[int]:
    """Alignments of every k-th checkpoint to try: all for short segments, four spread out otherwise."""
    if k <= _ALL_OFFSETS_UP_TO:
        return list(range(k))
    return sorted({k - 1, k // 2, k // 4, 3 * k // 4})
