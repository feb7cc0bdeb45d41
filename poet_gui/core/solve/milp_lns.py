"""Better plans for graphs with fan-out: re-optimise groups of neighbouring tensors with the MILP.

Why: on imported graphs (faithful autodiff backward, residual adds, attention) on the
microcontroller profiles, HiGHS on the full MILP keeps the heuristic start for the whole time
limit. Measured on poet_gui/samples/tiny_transformer.onnx, m4, 9,676 B, 1.5x: 4.80x the plain
energy after 30 s, while the optimum (proved by the literal model in 19 min) is 1.331x, 30
recomputations and no paging. A better plan there replaces a page of tensor ``i`` by a chain of
recomputations of ``i``'s ancestors, and makes room for them by dropping tensors around them: a
change to a few *graph neighbours* across *all* their stages. Neither a stage window (it cannot move
a decision across its edges) nor a group of the costly tensors alone (their ancestors stay fixed)
contains it, and the full model is too large for HiGHS to find it.

So each neighbourhood here is a seed tensor (most often one the plan spends extra energy on,
picked in proportion to that energy) grown breadth-first over the graph's edges, both ways, to a
group of a few tensors; every decision about them in every stage, and the RAM levels and frees of
those stages, are re-optimised with the rest of the plan fixed. Groups grow while nothing improves
and shrink back after an improvement. Every accepted plan satisfies the whole model
(:func:`milp_window.accepted`), so the search never makes the plan worse. It proves nothing: the
MILP that runs after it does, and the plan's gap is measured against a proven bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import numpy as np

from poet_gui.core.solve.milp_model import MilpModel
from poet_gui.core.solve.milp_window import SweepResult, WindowSolver, accepted, restrict, satisfies

#: Group sizes tried in turn while nothing improves (back to the first after an improvement). On the
#: tiny transformer the improving groups had 12 to 20 tensors; 8 keeps the first steps fast.
GROUP_SIZES = (8, 12, 16, 24)
#: Longest one neighbourhood may run; a group that takes longer is not worth more than the next one.
NEIGHBOURHOOD_TIME_LIMIT_S = 2.0
#: Share of seeds drawn from the tensors the plan spends extra energy on (the rest uniformly, so
#: room can also be made around tensors that cost nothing yet).
COSTLY_SEED_SHARE = 0.7
#: Consecutive groups that improve nothing after which the search hands over to the full MILP (on the
#: tiny transformer nothing improved in the 120 groups after the last improvement).
STALL_GROUPS = 32
#: Seed of the pseudo-random choices, so a solve is repeatable up to the solver's time limits.
RANDOM_SEED = 0


def tensor_group(model: MilpModel, seed: int, size: int, rng: np.random.Generator) -> list[int]:
    """``seed`` and its graph neighbours (inputs and consumers, breadth first, in random order within a
    node), up to ``size`` tensors."""
    graph = model.problem.graph
    group, queue = [seed], [seed]
    member = {seed}
    while queue and len(group) < size:
        v = queue.pop(0)
        near = [*graph.nodes[v].inputs, *graph.successors[v]]
        for u in rng.permutation(len(near)) if near else ():
            w = int(near[u])
            if w not in member:
                member.add(w)
                group.append(w)
                queue.append(w)
                if len(group) == size:
                    break
    return group


def group_mask(model: MilpModel, group: list[int]) -> np.ndarray:
    """Columns to re-optimise for ``group``: every decision about its tensors, and the RAM levels and
    frees of the stages where one of them is decided (elsewhere they are fixed with all they depend on)."""
    graph = model.problem.graph
    decides = np.isin(model.col_node, group) & (model.col_node >= 0)
    stages = np.zeros(int(model.col_stage.max()) + 1 if model.num_cols else 0, dtype=bool)
    stages[model.col_stage[decides]] = True
    inputs = {int(u) for v in group for u in graph.nodes[v].inputs}
    levels = model.col_node < 0
    dependent = ~model.is_integer & stages[model.col_stage] & (levels | np.isin(model.col_node, list(inputs)))
    return decides | dependent


def _extra_energy(model: MilpModel, x: np.ndarray) -> np.ndarray:
    """Per tensor, the scaled energy ``x`` spends on it beyond its one compute (recomputes, paging)."""
    decided = model.col_node >= 0
    return np.bincount(model.col_node[decided], weights=(model.cost * x)[decided], minlength=len(model.problem.graph))


def search_groups(
    model: MilpModel,
    x0: np.ndarray,
    solve_group: WindowSolver,
    *,
    time_limit_s: float,
    cancel: threading.Event | None = None,
    on_improved: Callable[[np.ndarray], None] | None = None,
    canonical: Callable[[np.ndarray], np.ndarray] | None = None,
    good_enough: Callable[[np.ndarray], bool] | None = None,
    workers: int = 1,
    halt: threading.Event | None = None,
    companion: Callable[[], np.ndarray | None] | None = None,
) -> SweepResult:
    """Re-optimise tensor groups (module docstring) until ``time_limit_s`` runs out, ``cancel`` is set,
    :data:`STALL_GROUPS` groups in a row improve nothing, or an improved plan is ``good_enough`` (it
    meets a proven bound). ``x0`` must satisfy the model;
    ``canonical`` and the acceptance test are those of :func:`milp_window.sweep_windows`.

    ``workers`` groups are solved at once, each in its own thread (HiGHS releases the GIL and keeps
    one scheduler per calling thread): measured on resnet_8 / m4, two workers solve 1.7x the groups
    of one on two cores. A group is drawn from the plan as it was when the group started and its
    result is accepted against the plan as it is when it ends, after the same whole-model check, so
    a result overtaken by another group's is kept only if it still satisfies the model and is
    cheaper. ``halt`` is set when the search ends early, so ``solve_group`` can interrupt the groups
    still running.

    ``companion`` is another search for a whole plan (or None), run in one of the workers' slots from
    the start: with two workers it runs beside the groups instead of before them, and with one, before
    them. Its plan is accepted like a group's, by the whole-model check, and its slot then takes groups.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(RANDOM_SEED)
    x = x0.copy()
    solved = improved = failures = 0
    n = len(model.problem.graph)
    if not satisfies(model, x) or n == 0:
        return SweepResult(x, solved, improved, passes=0)
    stopped = ""  # why no more groups start: "cancelled", "done" (time, stall) or "good" (meets the bound)
    running: dict[Future, np.ndarray] = {}  # each future's free columns (all of them for the companion)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="poet-lns") as pool:
        beside = None if companion is None else pool.submit(companion)
        if beside is not None:
            running[beside] = np.ones(model.num_cols, dtype=bool)
        while True:
            remaining = time_limit_s - (time.perf_counter() - started)
            if not stopped and cancel is not None and cancel.is_set():
                stopped = "cancelled"
            elif not stopped and (remaining <= 0.05 or failures >= STALL_GROUPS):
                stopped = "done"
            while not stopped and len(running) < max(1, workers):
                free = group_mask(model, tensor_group(model, _seed(model, x, rng), _size(failures), rng))
                limit = min(NEIGHBOURHOOD_TIME_LIMIT_S, remaining)
                running[pool.submit(solve_group, restrict(model, free, x), x[free], limit)] = free
                solved += 1
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                free = running.pop(future)
                candidate = accepted(model, x, free, future.result(), canonical)
                if candidate is None:
                    failures += future is not beside
                    continue
                x, failures = candidate, 0
                improved += future is not beside
                if on_improved is not None:
                    on_improved(x)
                if not stopped and good_enough is not None and good_enough(x):
                    stopped = "good"
                    if halt is not None:
                        halt.set()
    return SweepResult(x, solved, improved, passes=1, cancelled=stopped == "cancelled")


def _seed(model: MilpModel, x: np.ndarray, rng: np.random.Generator) -> int:
    """A group's first tensor: most often one the plan spends extra energy on (in proportion to it)."""
    n = len(model.problem.graph)
    extra = np.maximum(_extra_energy(model, x), 0.0)
    if extra.sum() > 0 and rng.random() < COSTLY_SEED_SHARE:
        return int(rng.choice(n, p=extra / extra.sum()))
    return int(rng.integers(n))


def _size(failures: int) -> int:
    """Groups grow while nothing improves (:data:`GROUP_SIZES`)."""
    return GROUP_SIZES[min(failures // len(GROUP_SIZES), len(GROUP_SIZES) - 1)]
