"""Approximate plans for graphs too large to solve exactly in time: re-optimise windows of stages.

Why: on resnet50 (335 nodes, 420k columns) HiGHS spends its first ~25 s presolving and has not
finished the root LP after a minute, so the exact MILP adds nothing to the heuristic start in the
time a user waits. The MILP couples stages only through persistence (stage ``t`` to ``t+1``) and
the single runtime row, so fixing every column outside a window of consecutive stages to the
incumbent's values leaves a small MILP that HiGHS solves in a second or two, and any solution of
it is a valid plan of the whole problem. Sweeping overlapping windows over the stages, keeping each
improvement, is a large-neighbourhood search: it never makes the plan worse, every plan it returns
satisfies the full model, and its quality is measured against a proven lower bound — but it is an
approximation (windows cannot move a decision across their edges), and it is labelled so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from poet_gui.core.solve.milp_model import MilpModel, SparseMilp

#: Stages per window, and how far consecutive windows advance (half overlap lets a decision near
#: one window's edge be revisited in the middle of the next).
WINDOW_STAGES = 24
WINDOW_STEP = 12
#: Tensors re-decided together (only tensors the plan spends extra energy on are grouped).
TENSOR_GROUP = 8
#: Longest a single window may run; the whole sweep is bounded by the caller's time limit.
WINDOW_TIME_LIMIT_S = 3.0
#: Relative slack allowed on a row or column bound when a window result is checked against the
#: whole model: float summation noise only. It is no looser than the simulator's (1e-9 of the
#: runtime budget), so a plan accepted here is never refused by the final verification.
_ROW_TOLERANCE = 1e-10


def restrict(model: SparseMilp, free: np.ndarray, x: np.ndarray) -> SparseMilp:
    """``model`` with every column not in ``free`` (a boolean mask) fixed at its value in ``x``: a
    smaller MILP in the same form, over the free columns in their order. Rows whose columns are all
    fixed are dropped (the fixed point satisfies them); the fixed part of every other row moves into
    its bounds, and the fixed part of the objective into ``objective_offset``."""
    rows = model.row_of_nonzero
    free_nz = free[model.col_index]
    fixed_part = np.bincount(
        rows[~free_nz], weights=model.value[~free_nz] * x[model.col_index[~free_nz]], minlength=model.num_rows
    )
    keep_row = np.bincount(rows[free_nz], minlength=model.num_rows) > 0
    new_col = np.cumsum(free) - 1
    new_row = np.cumsum(keep_row) - 1
    nz = free_nz & keep_row[rows]
    counts = np.bincount(new_row[rows[nz]], minlength=int(keep_row.sum()))
    lower = model.row_lower[keep_row] - fixed_part[keep_row]  # -inf stays -inf
    upper = model.row_upper[keep_row] - fixed_part[keep_row]
    return SparseMilp(
        cost=model.cost[free],
        col_lower=model.col_lower[free],
        col_upper=model.col_upper[free],
        is_integer=model.is_integer[free],
        row_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        col_index=new_col[model.col_index[nz]].astype(np.int64),
        value=model.value[nz],
        row_lower=lower,
        row_upper=upper,
        objective_offset=model.objective_offset + float(model.cost[~free] @ x[~free]),
    )


def satisfies(model: SparseMilp, x: np.ndarray) -> bool:
    """Whether ``x`` meets every row and column bound of ``model`` (within a small tolerance)."""
    activity = model.row_activity(x)
    row_tol = _ROW_TOLERANCE * np.maximum(1.0, np.abs(activity))
    col_tol = _ROW_TOLERANCE * np.maximum(1.0, np.abs(x))
    return bool(
        np.all(activity >= model.row_lower - row_tol)
        and np.all(activity <= model.row_upper + row_tol)
        and np.all(x >= model.col_lower - col_tol)
        and np.all(x <= model.col_upper + col_tol)
    )


def windows(num_stages: int, size: int = WINDOW_STAGES, step: int = WINDOW_STEP) -> list[tuple[int, int]]:
    """Overlapping ``[start, end)`` ranges that cover ``0..num_stages-1``, the last one flush with the end."""
    if num_stages <= size:
        return [(0, num_stages)]
    starts = [*range(0, num_stages - size, step), num_stages - size]
    return [(a, a + size) for a in starts]


def neighbourhoods(model: MilpModel, x: np.ndarray) -> list[np.ndarray]:
    """Column masks to re-optimise in turn: windows of consecutive stages (every decision made in
    them), interleaved with groups of the tensors that cost the plan ``x`` extra energy (every
    decision about them, in every stage, with all RAM levels free). Stage windows change local
    choices; tensor groups can keep a tensor across many stages instead of recomputing or paging
    it, which no stage window can."""
    n = int(model.col_stage.max()) + 1 if model.num_cols else 0
    by_stage = [(model.col_stage >= a) & (model.col_stage < b) for a, b in windows(n)]
    decided = model.col_node >= 0
    extra = np.bincount(model.col_node[decided], weights=(model.cost * x)[decided], minlength=n)
    costly = np.flatnonzero(extra > 0)
    level = ~decided
    groups = windows(len(costly), TENSOR_GROUP, TENSOR_GROUP) if len(costly) else []
    by_tensor = [level | np.isin(model.col_node, costly[a:b]) for a, b in groups]
    masks: list[np.ndarray] = []
    for i in range(max(len(by_stage), len(by_tensor))):
        masks.extend(m[i] for m in (by_tensor, by_stage) if i < len(m))
    return masks


#: Solves one restricted MILP from a start within a time limit: returns its best columns' values
#: (possibly the start itself), or None when it has none. Injected so this module stays solver-neutral.
WindowSolver = Callable[[SparseMilp, np.ndarray, float], np.ndarray | None]


@dataclass(frozen=True)
class SweepResult:
    """The improved column vector and what the sweep did. ``cancelled``: stopped by the caller,
    ``x`` is the best found until then."""

    x: np.ndarray
    windows_solved: int
    windows_improved: int
    passes: int
    cancelled: bool = False


def accepted(
    model: SparseMilp,
    x: np.ndarray,
    free: np.ndarray,
    values: np.ndarray | None,
    canonical: Callable[[np.ndarray], np.ndarray] | None,
) -> np.ndarray | None:
    """``x`` with the ``free`` columns set to a restricted solve's ``values``, if that is a strictly
    cheaper point that satisfies the whole model; else None (the caller keeps ``x``).

    The integer columns are rounded and, with ``canonical``, the dependent ones re-derived from them,
    so solver tolerances never accumulate across neighbourhoods.
    """
    if values is None:
        return None
    best = float(model.cost @ x)
    candidate = x.copy()
    candidate[free] = values
    candidate[model.is_integer] = np.round(candidate[model.is_integer])
    # Costs sit on 0/1 columns only, so the rounded vector's cost is the plan's: most windows
    # return their start, and are dismissed here before any further work.
    if float(model.cost @ candidate) >= best - 1e-9 * abs(best):
        return None
    if canonical is not None:
        candidate = canonical(candidate)
    if float(model.cost @ candidate) < best - 1e-9 * abs(best) and satisfies(model, candidate):
        return candidate
    return None


def sweep_windows(
    model: MilpModel,
    x0: np.ndarray,
    solve_window: WindowSolver,
    *,
    time_limit_s: float,
    cancel: threading.Event | None = None,
    on_improved: Callable[[np.ndarray], None] | None = None,
    canonical: Callable[[np.ndarray], np.ndarray] | None = None,
    good_enough: Callable[[np.ndarray], bool] | None = None,
) -> SweepResult:
    """Re-optimise windows of stages until a whole pass improves nothing, time runs out, or an
    improved plan is ``good_enough`` (it meets a proven lower bound: no window can beat it).

    ``x0`` must satisfy the model (a heuristic schedule's :meth:`MilpModel.start_vector`).
    ``canonical`` re-derives the dependent columns (frees, RAM levels) from a window's 0/1
    decisions, so float noise from the solver never accumulates across windows; a window result
    that does not satisfy the whole model afterwards is discarded, never kept.
    """
    started = time.perf_counter()
    x = x0.copy()
    solved = improved = passes = 0
    if not satisfies(model, x):
        return SweepResult(x, solved, improved, passes)  # nothing valid to improve on
    while True:
        passes += 1
        improved_this_pass = False
        for free in neighbourhoods(model, x):
            if cancel is not None and cancel.is_set():
                return SweepResult(x, solved, improved, passes, cancelled=True)
            remaining = time_limit_s - (time.perf_counter() - started)
            if remaining <= 0.05:
                return SweepResult(x, solved, improved, passes)
            sub = restrict(model, free, x)
            solved += 1
            values = solve_window(sub, x[free], min(WINDOW_TIME_LIMIT_S, remaining))
            candidate = accepted(model, x, free, values, canonical)
            if candidate is not None:
                x = candidate
                improved += 1
                improved_this_pass = True
                if on_improved is not None:
                    on_improved(x)
                if good_enough is not None and good_enough(x):
                    return SweepResult(x, solved, improved, passes)
        if not improved_this_pass:
            return SweepResult(x, solved, improved, passes)
