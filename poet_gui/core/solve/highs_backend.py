"""One place that creates and configures HiGHS instances, for every model this project solves.

Why one place: HiGHS keeps state that every instance must agree on. Its thread scheduler belongs
to the calling thread (one per thread that runs a solve): the first run in a thread creates it, and a
later instance in that thread asking for another thread count fails ("the scheduler has already
been initialized"); its banner goes to C-level stdout on the first construction. The MILP, its
windows, its tensor groups (solved in worker threads) and the eviction bound all go through
:func:`configured_highs`, which resets the calling thread's scheduler when a solve there asks for a
different thread count than the one before, or is the first of ours in that thread (another
library's HiGHS, such as PuLP's, may have created one with another count).
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

from poet_gui.core.solve.milp_model import SparseMilp

#: HiGHS's integrality tolerance. Its default (1e-6) lets a "binary" sit 1e-6 off 0 or 1, which on
#: RAM rows in bytes (coefficients up to ~1e6) is a byte of slack per variable: on vgg16_cifar / m4 at
#: 30 % of the plain peak HiGHS then declared 3.4529137 J optimal although 3.4528987 J satisfies the
#: model (found by the literal model; benchmarks/RESULTS.md). At 1e-9 it finds and proves the latter.
INTEGRALITY_TOLERANCE = 1e-9
_banner_lock = threading.Lock()
_banner_done = False
_scheduler = threading.local()  # .threads: the count this thread's HiGHS scheduler was made for


def new_highs():
    """A fresh ``highspy.Highs`` with logging off.

    HiGHS prints its banner on C-level stdout from the first constructor in a process, before any
    option can be set, which would corrupt ``--json`` output; the first construction therefore runs
    with file descriptor 1 pointed at /dev/null (later ones print nothing).
    """
    import highspy

    global _banner_done
    with _banner_lock:
        if _banner_done:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_done = True
    h.setOptionValue("output_flag", False)
    return h


def configured_highs(
    milp: SparseMilp,
    *,
    time_limit_s: float,
    rel_gap: float,
    threads: int,
    start: np.ndarray | None = None,
    presolve: bool = True,
):
    """A HiGHS instance holding ``milp`` with this project's settings and, if given, a MIP start."""
    import highspy

    use_threads(int(threads))
    h = new_highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(rel_gap))
    h.setOptionValue("threads", int(threads))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_feasibility_tolerance", INTEGRALITY_TOLERANCE)
    h.setOptionValue("presolve", "on" if presolve else "off")
    h.passModel(_highs_lp(milp, highspy))
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = start
        solution.value_valid = True
        h.setSolution(solution)
    return h


def use_threads(threads: int) -> None:
    """Reset the calling thread's HiGHS scheduler unless it was made for ``threads`` by a solve of
    ours (blocking until that thread's earlier solves release it), so a script may solve with 1
    thread and then with 2. HiGHS keeps one scheduler per thread, so this never touches another
    thread's running solve. Called by :func:`configured_highs`, and before a solve through another
    library's HiGHS (the literal model's, through PuLP) in a thread where ours may have run."""
    import highspy

    if getattr(_scheduler, "threads", None) != threads:
        highspy.Highs.resetGlobalScheduler(True)
        _scheduler.threads = threads


def has_solution(h) -> bool:
    """Whether HiGHS holds a feasible point (an incumbent, for a MIP)."""
    import highspy

    return h.getInfo().primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible


def _highs_lp(model: SparseMilp, highspy):
    lp = highspy.HighsLp()
    lp.num_col_ = model.num_cols
    lp.num_row_ = model.num_rows
    lp.col_cost_ = model.cost
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = model.col_upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    lp.offset_ = model.objective_offset
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = model.num_cols
    lp.a_matrix_.num_row_ = model.num_rows
    lp.a_matrix_.start_ = model.row_start
    lp.a_matrix_.index_ = model.col_index
    lp.a_matrix_.value_ = model.value
    kind = highspy.HighsVarType
    lp.integrality_ = [kind.kInteger if b else kind.kContinuous for b in model.is_integer]
    return lp
